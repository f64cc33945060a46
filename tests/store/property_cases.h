// The property test cases, for any store (memory: in the unit tests, Redis in
// the integration tests). Bounded: at most `messages` per window set and at
// most property_time_limit of wall time each (about 0.5 s on an idle machine;
// the limit is generous because CI machines may be loaded).
#pragma once

#include <doctest/doctest.h>

#include "store_contract.h"
#include "window_property.h"

namespace quotamilter::test {

// Opens a fresh, empty store with these test hooks.
using OpenStoreWithHooks = std::function<std::unique_ptr<store::StoreBackend>(const store::TestHooks&)>;

inline constexpr std::chrono::milliseconds property_time_limit{8000};

inline std::string describe(const PropertyReport& r) {
    return "messages " + std::to_string(r.messages) + ", admitted " + std::to_string(r.admitted) +
           ", refused " + std::to_string(r.refused) + ", refunded " + std::to_string(r.refunded) +
           ", over limit " + std::to_string(r.over_limit) + ", unjustified " +
           std::to_string(r.unjustified) + ", bad count " + std::to_string(r.bad_count) + ", bad retry " + std::to_string(r.bad_retry) +
           ", store errors " + std::to_string(r.store_errors) + "; first: " + r.first_problem;
}

inline std::string describe(const std::vector<std::uint32_t>& windows) {
    std::string out;
    for (auto w : windows) out += std::to_string(w) + "s ";
    return out;
}

// The store under test never over-admits and never refuses without cause.
inline void property_holds(const OpenStoreWithHooks& open, std::size_t messages) {
    std::uint32_t seed = 1;
    for (const auto& windows : property_window_sets()) {
        SimClock clock;
        auto store = open(clock_hooks(clock));
        const auto report = run_window_property(*store, clock, seed++, windows, messages,
                                                property_time_limit);
        MESSAGE("windows " << describe(windows) << ": " << describe(report));
        CHECK(report.clean());
        // The run exercised both answers, with enough traffic to mean something.
        CHECK(report.admitted >= 20);
        CHECK(report.refused >= 20);
        CHECK(report.refunded >= 1);
    }
}

// The same test on a store that counts one bucket too few must fail (a): the
// property test can catch over-admission.
inline void property_catches_one_bucket_too_few(const OpenStoreWithHooks& open,
                                                std::size_t messages) {
    std::uint32_t seed = 1;
    std::size_t caught = 0;
    for (const auto& windows : property_window_sets()) {
        SimClock clock;
        auto store = open(clock_hooks(clock, -1));
        const auto report = run_window_property(*store, clock, seed++, windows, messages,
                                                property_time_limit);
        MESSAGE("one bucket too few, windows " << describe(windows) << ": " << describe(report));
        CHECK(report.over_limit > 0);
        CHECK(report.bad_retry > 0);    // it promises retries too early, too
        CHECK(report.store_errors == 0);
        caught += report.over_limit > 0;
    }
    CHECK(caught == property_window_sets().size());
}

// And a store that counts one bucket too many must fail (b): the property
// test can catch refusals without cause (the extra bucket stretches the
// counted span up to W + 2g, beyond W + W/60).
inline void property_catches_one_bucket_too_many(const OpenStoreWithHooks& open,
                                                 std::size_t messages) {
    std::uint32_t seed = 1;
    std::size_t caught = 0;
    for (const auto& windows : property_window_sets()) {
        SimClock clock;
        auto store = open(clock_hooks(clock, 1));
        const auto report = run_window_property(*store, clock, seed++, windows, messages,
                                                property_time_limit);
        MESSAGE("one bucket too many, windows " << describe(windows) << ": " << describe(report));
        CHECK(report.over_limit == 0);  // stricter, never looser
        CHECK(report.bad_retry > 0);    // and its retry_after comes late
        CHECK(report.store_errors == 0);
        caught += report.unjustified > 0;
    }
    CHECK(caught >= property_window_sets().size() / 2);
}

}  // namespace quotamilter::test
