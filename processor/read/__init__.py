"""Reading files: values, sheet detection, parsing, the schema."""
