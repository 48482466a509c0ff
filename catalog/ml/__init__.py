"""Pure image code (no Django): decoding, border trimming, perceptual hashes, colour histograms, embedders,
visual neighbours and duplicate groups. Frames and arrays in, frozen dataclasses out."""
