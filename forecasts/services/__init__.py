"""Writes and ML bridges of the forecasts app: backtests, forecast runs, anomaly detection and alerts."""
