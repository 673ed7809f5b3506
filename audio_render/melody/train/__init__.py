"""Training side of the melody model: data preparation, training and evaluation. Serving never imports it."""
