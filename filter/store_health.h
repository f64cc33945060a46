// Store outages, logged once when they start and once when they end (not per
// failed call): a Redis that is down must not flood the mail log.
#pragma once

#include "filter/log.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace quotamilter::filter {

class StoreHealth {
public:
    explicit StoreHealth(Logger& logger) : logger_(logger) {}

    // A store call failed; `answer` says what the milter does about it
    // ("tempfail" or "accept"). Logs only the first failure of an outage.
    void record_failure(std::string_view error, std::string_view answer);
    // A store call succeeded; logs the end of an outage.
    void record_success();

    bool in_outage() const { return down_.load(std::memory_order_relaxed); }

private:
    Logger& logger_;
    std::atomic<bool> down_{false};  // lets record_success skip the lock when all is well
    std::mutex mutex_;
    std::chrono::steady_clock::time_point since_;
    std::uint64_t failed_calls_ = 0;
};

}  // namespace quotamilter::filter
