"""Pure machine-learning code for churn and purchase prediction. No Django imports below here:
functions take pandas / numpy frames and frozen config dataclasses and return result dataclasses."""
