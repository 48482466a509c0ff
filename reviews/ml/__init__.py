"""Pure review analysis (no Django): language guess, sentiment learned from stars, aspects."""
