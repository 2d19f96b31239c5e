"""ROS-free camera front end: 2D keypoint layouts, image conversion, detectors, tracking, overlay, test renderer."""
