"""Tools around the nodes, not part of them: the node as a subprocess (`process`), one rclpy driver that feeds and
records topics (`driver`), the bag pipeline runner and its demo/bench commands (`runner`, `pipeline`), fuzz and
soak (`stress`, `stress_inputs`) and the camera → 3D demo (`camera_demo`)."""
