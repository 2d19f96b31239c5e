"""mpm_ros: ROS 2 nodes that lift streaming 2D keypoints to 3D skeletons with mpm_model.

The product: lift_node (+ params, frame_decoder, worker, layouts, messages, diagnostics), pose2d_node and
adapter_node (camera and detector front ends), node_main and param_table (what every node shares).
Tools around it: bags/ (make_bag, replay, report) and harness/ (pipeline runner, stress, camera demo).
"""
