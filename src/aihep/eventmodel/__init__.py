"""Event-level multi-task models: one transformer body, heads for classification,
assignment, regression, segmentation and masked-object reconstruction."""
