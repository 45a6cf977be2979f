"""AutoML search with Keras Tuner under a trainable-parameter (and MACs) budget."""
