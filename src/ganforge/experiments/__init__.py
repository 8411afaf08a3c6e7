"""Measured experiments built on the public API: `augment` (does GAN-synthetic data help a small labelled set?),
with its stratified split (`split`) and the small classifier every arm trains (`classifier`). Import the modules
themselves; this package file imports nothing, so `ganforge.synth` can use the classifier without a cycle."""
