"""The Excel shell: UDFs, ribbon handlers, the xlwings adapter and the workbook.xlsm build."""
