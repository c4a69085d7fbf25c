// The classifier of a network (the layer whose outputs are the class scores) and the same network trained for
// another number of classes: the question an engineer asks first about a published network ("ResNet-50, but
// fine-tuned for my 10 classes"), and an axis on which predictive models must transfer (docs/models.md).
#pragma once
#include "graph/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace convergy {

struct Classifier {
  LayerId layer = -1;   // an InnerProduct, or a Convolution with one group (SqueezeNet's conv10)
  BlobId output = -1;   // the network output it feeds
  int64_t classes = 0;  // its num_output
};

// The classifier feeding each network output, found by walking back from the output through the layers that
// keep its channels (Softmax, Flatten, Reshape, Dropout, activations, pooling, ArgMax). An output with no
// such layer (a detection head, a feature map from a pass-through network) has none and is left out.
std::vector<Classifier> find_classifiers(const Graph& g);

// `g` with every classifier producing `classes` scores, every shape after it inferred again (the classifier's
// weights included). Throws BadInput naming `g.source()` when the network has no classifier or a later layer
// cannot take the new count (a Reshape to a fixed 1000).
Graph with_classes(Graph g, int64_t classes);

}  // namespace convergy
