"""Forecasting: the series x day panel, features (shared by training and serving), the LightGBM
model, baselines, the metric, backtests, the data generator and plots. No AWS.
"""
