"""The classic sequence-modelling tasks, as data generators. NumPy only: no model code here."""
