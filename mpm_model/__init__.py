"""mpm_model: ROS-free MPM (masked pose modeling) library — model, data, training, export, backends."""
