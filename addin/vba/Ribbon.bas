Attribute VB_Name = "PrecisionListRibbon"
Option Explicit

' The Precision List (Jing Zhun Ming Dan) ribbon tab: one callback serves every button. Python (addin/ribbon.py)
' dispatches on the control's id, so adding a button never needs new VBA.

Public Sub OnRibbonAction(control As IRibbonControl)
    RunPython "import addin.ribbon; addin.ribbon.dispatch('" & control.Id & "')"
End Sub
