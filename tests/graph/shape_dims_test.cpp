// Shape::dims keeps up to Dims::kInline dimensions in place and more on the heap; it must behave as the
// std::vector<int64_t> it replaced on both sides of that boundary.
#include "graph/shape.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace convergy {
namespace {

std::vector<int64_t> vec(const Dims& d) { return std::vector<int64_t>(d.begin(), d.end()); }

TEST(ShapeDims, PushBackAcrossTheInlineCapacity) {
  Dims d;
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= 13; ++i) {  // 13: well past kInline, through several heap growths
    d.push_back(i * 7);
    v.push_back(i * 7);
    ASSERT_EQ(vec(d), v) << "after " << i << " push_backs";
    ASSERT_EQ(d.size(), v.size());
    ASSERT_EQ(d.back(), v.back());
  }
}

TEST(ShapeDims, CopyMoveAndAssignKeepTheValues) {
  for (size_t n : {size_t{0}, size_t{1}, Dims::kInline, Dims::kInline + 1, size_t{11}}) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(static_cast<int64_t>(100 + i));
    const Dims d(v);
    Dims copy = d;
    EXPECT_EQ(vec(copy), v) << n;
    Dims moved = std::move(copy);
    EXPECT_EQ(vec(moved), v) << n;
    EXPECT_TRUE(copy.empty()) << n;  // NOLINT(bugprone-use-after-move): moved-from is empty by design
    Dims assigned{9, 9};
    assigned = moved;
    EXPECT_EQ(vec(assigned), v) << n;
    Dims move_assigned{1, 2, 3, 4, 5, 6, 7, 8};
    move_assigned = std::move(assigned);
    EXPECT_EQ(vec(move_assigned), v) << n;
    EXPECT_TRUE(d == v);
    EXPECT_EQ(Shape(v), Shape(d)) << n;
  }
}

TEST(ShapeDims, AssignFromItsOwnRangeInsertAndErase) {
  for (size_t n : {size_t{5}, size_t{9}}) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < n; ++i) v.push_back(static_cast<int64_t>(i + 1));
    Dims d(v);
    d.assign(d.begin() + 1, d.end());  // a sub-range of itself
    v.assign(v.begin() + 1, v.end());
    EXPECT_EQ(vec(d), v) << n;
    d.insert(d.begin() + 2, int64_t{42});
    v.insert(v.begin() + 2, int64_t{42});
    EXPECT_EQ(vec(d), v) << n;
    const std::vector<int64_t> more = {7, 8, 9};
    d.insert(d.end(), more.begin(), more.end());
    v.insert(v.end(), more.begin(), more.end());
    EXPECT_EQ(vec(d), v) << n;
    d.erase(d.begin());
    v.erase(v.begin());
    EXPECT_EQ(vec(d), v) << n;
    d.assign(3, 1);
    EXPECT_EQ(vec(d), std::vector<int64_t>(3, 1)) << n;
  }
}

TEST(ShapeDims, ShapeAccessorsAndTextOnBothSides) {
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(s.rank(), 4);
  EXPECT_EQ(s.str(), "2x3x4x5");
  EXPECT_EQ(s.elems(), 120);
  const Shape big(std::vector<int64_t>{1, 2, 1, 2, 1, 2, 1, 2});
  EXPECT_EQ(big.rank(), 8);
  EXPECT_EQ(big.str(), "1x2x1x2x1x2x1x2");
  EXPECT_EQ(big.elems(), 16);
  EXPECT_EQ(big[7], 2);
  EXPECT_FALSE(s == big);
}

}  // namespace
}  // namespace convergy
