// The Prometheus endpoint of `serve` (prometheus-cpp's pull Exposer on its
// own thread): the filter core's Metrics (filter/metrics.h) as Prometheus text.
#pragma once

#include "filter/metrics.h"

#include <memory>
#include <string>

namespace quotamilter::cli {

// Serves /metrics on `listen` ("127.0.0.1:9369"). Throws std::runtime_error
// when the address cannot be bound.
std::unique_ptr<filter::Metrics> make_prometheus_metrics(const std::string& listen);

}  // namespace quotamilter::cli
