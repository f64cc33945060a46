#include "filter/store_health.h"

#include <fmt/format.h>

namespace quotamilter::filter {

void StoreHealth::record_failure(std::string_view error, std::string_view answer) {
    std::lock_guard lock(mutex_);
    ++failed_calls_;
    if (down_.load(std::memory_order_relaxed)) return;
    down_.store(true, std::memory_order_relaxed);
    since_ = std::chrono::steady_clock::now();
    failed_calls_ = 1;
    logger_.error(fmt::format("store unavailable: {}; answering {} until it recovers", error, answer));
}

void StoreHealth::record_success() {
    if (!down_.load(std::memory_order_relaxed)) return;
    std::lock_guard lock(mutex_);
    if (!down_.load(std::memory_order_relaxed)) return;
    down_.store(false, std::memory_order_relaxed);
    auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since_);
    logger_.warning(fmt::format("store recovered after {:.1f}s ({} failed calls)", lasted.count() / 1000.0,
                                failed_calls_));
}

}  // namespace quotamilter::filter
