// OpenCV DNN (4.6, CPU, default backend) as a benchmark peer. Usage: opencv_peer MODEL.onnx THREADS
// Loads the ONNX file, runs two warm-up passes, prints "ready", then answers each stdin line "run" with the
// wall time of one forward pass in milliseconds; "quit" or end of input stops it.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: opencv_peer MODEL.onnx THREADS\n");
    return 2;
  }
  cv::setNumThreads(std::atoi(argv[2]));
  cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[1]);
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  int dims[] = {1, 3, 224, 224};
  cv::Mat input(4, dims, CV_32F);
  cv::randu(input, -1.0f, 1.0f);
  for (int i = 0; i < 2; ++i) {
    net.setInput(input);
    net.forward();
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line) && line == "run") {
    const auto t0 = std::chrono::steady_clock::now();
    net.setInput(input);
    net.forward();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.4f\n", ms);
    std::fflush(stdout);
  }
  return 0;
}
