"""Result-sheet layout and the analyser contract.

The package face exports the contract only (:class:`Context`, :class:`Contribution`); the layout
modules (``report``, ``templates``, ``propensity``) are imported by name, so importing the
contract never pulls in the analysers.
"""

from processor.sheets.contract import Context, Contribution

__all__ = ["Context", "Contribution"]
