"""Measured experiments built on the public API: `augment` (does GAN-synthetic data help a small labelled set?),
with its stratified split (`split`); the small classifier every arm trains is ganforge/classifier.py, which
`ganforge.synth` also uses. Import the modules themselves; this package file imports nothing."""
