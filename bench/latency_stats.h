// Latency samples and their percentiles, shared by the benchmark tools.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace quotamilter::bench {

// Samples in microseconds; percentiles by the nearest-rank method on a sorted
// copy (exact, no histogram buckets: runs are small enough to keep them all).
class LatencySamples {
public:
    void add(double microseconds) { samples_.push_back(microseconds); }
    std::size_t count() const { return samples_.size(); }

    // q in [0, 1]; 0 samples answer 0.
    double percentile(double q) const {
        if (samples_.empty()) return 0.0;
        sort_once();
        const double rank = std::ceil(q * static_cast<double>(samples_.size()));
        std::size_t index = rank < 1.0 ? 0 : static_cast<std::size_t>(rank) - 1;
        if (index >= samples_.size()) index = samples_.size() - 1;
        return samples_[index];
    }
    double mean() const {
        if (samples_.empty()) return 0.0;
        double sum = 0.0;
        for (double s : samples_) sum += s;
        return sum / static_cast<double>(samples_.size());
    }
    double max() const { return samples_.empty() ? 0.0 : *std::max_element(samples_.begin(), samples_.end()); }

private:
    void sort_once() const {
        if (!sorted_) {
            std::sort(samples_.begin(), samples_.end());
            sorted_ = true;
        }
    }
    mutable std::vector<double> samples_;
    mutable bool sorted_ = false;
};

}  // namespace quotamilter::bench
