"""The Excel shell: cell formulas (udfs), ribbon handlers, and the workbook.xlsm build."""
