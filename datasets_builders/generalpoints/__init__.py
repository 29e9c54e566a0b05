"""GeneralPoints builder: see `builder.py` and the dataset card `README.md`."""
