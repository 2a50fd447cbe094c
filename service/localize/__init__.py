"""Text → region localisation: where in a photo a phrase is, with any bundle, no retraining."""
