"""mpm_ros: ROS 2 node and tools that lift streaming 2D keypoints to 3D skeletons with mpm_model."""
