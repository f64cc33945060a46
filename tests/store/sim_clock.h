// A simulated clock for the stores (TestHooks::simulated_clock_ms, store/testing.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace quotamilter::test {

class SimClock {
public:
    explicit SimClock(std::int64_t start_ms = 1'764'000'000'000) : now_(start_ms) {}
    std::int64_t now() const { return now_.load(); }
    void set(std::int64_t ms) { now_.store(ms); }
    void advance(std::int64_t ms) { now_.fetch_add(ms); }
    std::function<std::int64_t()> function() {
        return [this] { return now_.load(); };
    }

private:
    std::atomic<std::int64_t> now_;
};

}  // namespace quotamilter::test
