"""Sales and demand forecasting and anomaly detection, pure numpy / pandas (no Django).

- `series`: the orders of a shop as facts (one row per order and series key) and as panels of binned series.
- `base`: a forecaster's input and output; `models`: the forecasters (statsforecast's, a global LightGBM, an
  ensemble) and their registry; `customer`: the customer-based (BG/NBD) one and its yearly seasonal index.
- `selection`: rolling-origin validation before a cutoff, the champion, and the test metrics of a backtest.
- `anomalies`: monitors' detectors (forecast interval or robust seasonal baseline) and the grouping of alerts.
"""
