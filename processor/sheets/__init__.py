"""Result-sheet layout and the analyser contract."""
