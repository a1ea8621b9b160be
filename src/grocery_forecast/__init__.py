"""Grocery sales forecasting for the Favorita format: data contract, history, features, model.

Submodules are imported on demand so the ETL Lambda never pays for LightGBM.
"""

__version__ = "0.1.0"
