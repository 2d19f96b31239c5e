"""ament_python package mpm_ros: the ROS-free model library mpm_model plus the ROS node mpm_ros."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mpm_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["mpm_model", "mpm_model.*", "mpm_ros", "mpm_ros.*"]),
    package_data={"mpm_model": ["weights/*.pt", "weights/*.json", "assets/*.npz"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="mpm_ros developers",
    maintainer_email="mpm-ros@example.com",
    description="Real-time 3D human pose lifting (MPM) from streaming 2D keypoints for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mpm-pretrain = mpm_model.training.pretrain:main",
            "mpm-finetune = mpm_model.training.finetune:main",
            "mpm-evaluate = mpm_model.training.evaluate:main",
            "mpm-model-stats = mpm_model.deploy.model_stats:main",
            "mpm-make-synthetic = mpm_model.data.make_synthetic:main",
            "mpm-export = mpm_model.deploy.export:main",
            "mpm-build-engine = mpm_model.deploy.build_engine:main",
            "mpm-bench = mpm_model.deploy.bench:main",
            "lift_node = mpm_ros.lift_node:main",
            "pose2d_node = mpm_ros.pose2d_node:main",
            "input_adapter = mpm_ros.adapter_node:main",
            "mpm-camera-demo = mpm_ros.harness.camera_demo:main",
            "mpm-pose-task = mpm_model.vision.pose_task:main",
            "mpm-make-bag = mpm_ros.bags.make_bag:main",
            "mpm-replay = mpm_ros.bags.replay:main",
            "mpm-report = mpm_ros.bags.report:main",
        ],
    },
)
