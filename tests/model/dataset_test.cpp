// Loading measurement tables as the rest of convergy writes them: the per-layer CSV of `convergy export`
// (whole-network rows, both profiling modes) and hardware counter columns named as the profiler names them.
#include "model/dataset.h"
#include "model/model.h"
#include "util/error.h"
#include "model_test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace convergy;
using namespace convergy::model;
using ::testing::HasSubstr;

namespace {

using convergy::model::test_util::message_of;

LayerFeatures layer(const std::string& name, LayerClass cls, uint64_t macs) {
  LayerFeatures f;
  f.name = name;
  f.kind = cls == LayerClass::Conv ? LayerKind::Convolution : LayerKind::InnerProduct;
  f.cls = cls;
  f.batch = 1, f.in_c = 3, f.out_c = 8, f.in_h = f.in_w = f.out_h = f.out_w = 4;
  f.kernel_h = f.kernel_w = 3, f.stride_h = f.stride_w = 1, f.groups = 1;
  f.macs = macs;
  return f;
}

// Two tiny networks, "a" and "b", whatever the reference.
NetworkResolver resolver() {
  return [](const std::string& ref) {
    auto net = std::make_shared<NetworkFeatures>();
    const uint64_t k = ref == "a" ? 1 : 3;
    net->layers = {layer("conv1", LayerClass::Conv, 1000 * k), layer("conv2", LayerClass::Conv, 5000 * k),
                   layer("fc", LayerClass::FC, 200 * k)};
    return std::shared_ptr<const NetworkFeatures>(net);
  };
}

// The header of `convergy export` (src/store/store.cpp export_csv) with two feature columns.
const std::string kExportHeader =
    "campaign,network,layer_index,layer,type,mode,kind,rep,backend,threads,time_ms,energy_mj,power_w,sensor,rail,"
    "macs,in_bytes,dynamic_energy_mj,cpu_time_ms,n,mean_ms,stddev_ms,cv,ci95_ms,energy_stddev_mj,energy_ci95_mj,"
    "iterations,repeated_for_sensor\n";

std::string export_row(const std::string& net, int index, const std::string& name, const std::string& mode,
                       double time_ms) {
  return fmt::format("1,{},{},{},Convolution,{},aggregate,,openblas,1,{},,,,,1000,48,,{},5,{},0.01,0.01,0.01,,,10,0\n",
                     net, index, name, mode, time_ms, time_ms, time_ms);
}

TEST(Dataset, ExportedWholeNetworkRowsAreSkippedNotCountedAsLayers) {
  std::string text = kExportHeader;
  for (const char* net : {"a", "b"}) {
    text += export_row(net, 0, "conv1", "markers", 1.0);
    text += export_row(net, 1, "conv2", "markers", 4.0);
    text += export_row(net, 2, "fc", "markers", 0.5);
    text += export_row(net, -1, "(network)", "markers", 5.6);  // the whole run, after its layers
  }
  CsvTable csv = CsvTable::parse(text, "export.csv");
  Dataset d = load_dataset(csv, "time_ms", resolver());
  EXPECT_EQ(d.kind, DataKind::Layers);
  EXPECT_EQ(d.samples.size(), 6u);
  EXPECT_EQ(d.skipped_network_rows, 2u);
  for (const auto& s : d.samples) EXPECT_NE(s.label.find('/'), std::string::npos) << s.label;
  // A model fits on the layers alone: the network row would otherwise fail ("no layer (network)").
  Design des = build_design(d, parse_feature_set("conv=macs,1;fc=macs,1;method=ols"));
  FitOptions o;
  o.calibrate = false;
  Model m = fit_model(d, des, {0, 1, 2, 3, 4, 5}, o);
  EXPECT_EQ(m.provenance.training_rows, 6u);

  // Without a layer_index column the "(network)" name alone marks the row.
  CsvTable plain = CsvTable::parse("network,layer,time_ms\na,conv1,1\na,(network),5.6\n", "plain.csv");
  Dataset p = load_dataset(plain, "time_ms", resolver());
  EXPECT_EQ(p.samples.size(), 1u);
  EXPECT_EQ(p.skipped_network_rows, 1u);
}

TEST(Dataset, LayerMeasuredTwiceIsRefusedWithTheFix) {
  // `convergy profile --mode both` (the default) exports every layer once per mode.
  std::string text = kExportHeader + export_row("a", 0, "conv1", "markers", 1.0) +
                     export_row("a", 0, "conv1", "isolated", 0.9);
  CsvTable csv = CsvTable::parse(text, "export.csv");
  EXPECT_THAT(message_of([&] { load_dataset(csv, "time_ms", resolver()); }),
              HasSubstr("export.csv:3: layer \"conv1\" of network \"a\" is measured again (first at line 2)"));
  EXPECT_THAT(message_of([&] { load_dataset(csv, "time_ms", resolver()); }), HasSubstr("--where mode=markers"));
  Dataset one = load_dataset(csv.where("mode", "markers"), "time_ms", resolver());
  EXPECT_EQ(one.samples.size(), 1u);
}

TEST(Dataset, CountersUseTheProfilerEventNames) {
  // ARMv8 events, as the profiler records them (ASE_SPEC: SIMD, BUS_ACCESS: bus/memory accesses).
  CsvTable arm = CsvTable::parse(
      "network,layer,time_ms,instructions,ASE_SPEC,BUS_ACCESS\n"
      "a,conv1,1.0,5000,1000,200\na,conv2,2.1,9000,2000,420\na,fc,0.3,800,100,90\n"
      "b,conv1,3.0,15000,3000,610\nb,conv2,6.2,27000,6000,1250\nb,fc,0.8,2400,300,260\n",
      "arm.csv");
  Dataset d = load_dataset(arm, "time_ms", resolver());
  EXPECT_DOUBLE_EQ(d.samples[0].extra.at("simd_instructions"), 1000.0);
  EXPECT_DOUBLE_EQ(d.samples[0].extra.at("memory_accesses"), 200.0);
  EXPECT_DOUBLE_EQ(d.samples[0].extra.at("instructions"), 5000.0);
  Design des = build_design(d, parse_feature_set("counters"));
  // conv terms simd_instructions, memory_accesses, 1 of the first row (conv1 of network a).
  EXPECT_DOUBLE_EQ(des.x(0, 0), 1000.0);
  EXPECT_DOUBLE_EQ(des.x(0, 1), 200.0);
  EXPECT_DOUBLE_EQ(des.x(0, 2), 1.0);
  // A raw event name works in a custom spec too.
  Design raw = build_design(d, parse_feature_set("conv=BUS_ACCESS,instructions;fc=1"));
  EXPECT_DOUBLE_EQ(raw.x(1, 0), 420.0);
  EXPECT_DOUBLE_EQ(raw.x(1, 1), 9000.0);

  // x86: packed single-precision FP_ARITH events add up to the SIMD count; LLC misses are the memory accesses.
  CsvTable x86 = CsvTable::parse(
      "in_c,in_h,in_w,out_c,kernel_h,kernel_w,time_ms,FP_ARITH:128B_PACKED_SINGLE,FP_ARITH:256B_PACKED_SINGLE,"
      "LLC_MISSES\n3,8,8,4,3,3,0.2,100,50,7\n",
      "x86.csv");
  Dataset s = load_dataset(x86, "time_ms", {});
  EXPECT_DOUBLE_EQ(s.samples[0].extra.at("simd_instructions"), 150.0);
  EXPECT_DOUBLE_EQ(s.samples[0].extra.at("memory_accesses"), 7.0);

  // Without counter columns, the design names the file, the row and the columns it would need.
  CsvTable none = CsvTable::parse("network,layer,time_ms\na,conv1,1.0\n", "none.csv");
  Dataset n = load_dataset(none, "time_ms", resolver());
  EXPECT_THAT(message_of([&] { build_design(n, parse_feature_set("counters")); }),
              HasSubstr("none.csv:2: layer \"conv1\": feature \"simd_instructions\" is not available"));
  EXPECT_THAT(message_of([&] { build_design(n, parse_feature_set("counters")); }), HasSubstr("ASE_SPEC"));
}

TEST(Dataset, CountersNeedRowsOfOneLayer) {
  CsvTable nets = CsvTable::parse("network,time_ms,ASE_SPEC,BUS_ACCESS\na,6.0,3000,700\nb,18.0,9000,2100\n", "nets.csv");
  Dataset d = load_dataset(nets, "time_ms", resolver());
  EXPECT_THAT(message_of([&] { build_design(d, parse_feature_set("counters")); }),
              HasSubstr("nets.csv: feature set \"counters\": term \"simd_instructions\" reads the measured column"));
}

}  // namespace
