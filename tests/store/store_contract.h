// The behaviour every StoreBackend must show, run against memory: (unit test)
// and against a real redis-server (integration test). `make` opens a fresh,
// empty store on the simulated clock.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>

#include "sim_clock.h"
#include "store/testing.h"

namespace quotamilter::test {

using store::CounterId;
using store::CounterRequest;
using store::Outcome;
using store::AdminStatus;
using store::ChargeReceipt;
using store::StoreBackend;
using OpenStore = std::function<std::unique_ptr<StoreBackend>(SimClock&)>;

// StoreOptions without designated initialisers (-Wmissing-field-initializers).
inline store::StoreOptions store_options(std::string url) {
    store::StoreOptions options;
    options.url = std::move(url);
    return options;
}

// The hooks of a store on `clock` (open_store_for_tests, store/testing.h).
inline store::TestHooks clock_hooks(SimClock& clock, int counted_buckets_offset = 0) {
    store::TestHooks hooks;
    hooks.simulated_clock_ms = clock.function();
    hooks.counted_buckets_offset = counted_buckets_offset;
    return hooks;
}

inline CounterId counter(const std::string& value, std::uint32_t window_seconds = 1800,
                         const std::string& unit = "messages",
                         const std::string& policy = "user1_ratelimit") {
    return CounterId{policy, "sender", unit, window_seconds, value};
}

inline void contract_admits_up_to_the_limit(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    const CounterRequest req{counter("user1@hudedu.net"), 3, 1};
    for (int i = 0; i < 3; ++i) {
        ChargeReceipt receipt;
        const auto d = store->charge_with_receipt({&req, 1}, receipt);
        REQUIRE(d.outcome == Outcome::admitted);
        REQUIRE(receipt.entries.size() == 1);
        CHECK(receipt.entries[0].cost == 1);
        clock.advance(1000);
    }
    auto refused = store->charge({&req, 1});
    REQUIRE(refused.outcome == Outcome::refused);
    CHECK(refused.refused_index == 0);
    CHECK(refused.count == 3);
    CHECK(refused.limit == 3);
    REQUIRE(refused.retry_after.has_value());
    // The first unit was charged 3 s ago in a 30 s bucket of a 1800 s window:
    // it stops counting 1800 s + one bucket after its bucket's start, at most.
    CHECK(refused.retry_after->count() > 1800'000 - 3'000);
    CHECK(refused.retry_after->count() <= 1800'000 + 30'000);
    // check() agrees and is read-only.
    CHECK(store->check({&req, 1}).outcome == Outcome::refused);
    // One ms before retry_after: still refused; at retry_after: admitted.
    clock.advance(refused.retry_after->count() - 1);
    CHECK(store->check({&req, 1}).outcome == Outcome::refused);
    clock.advance(1);
    CHECK(store->check({&req, 1}).outcome == Outcome::admitted);
}

inline void contract_all_or_none(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    const std::vector<CounterRequest> two{
        {counter("a@example.com", 3600, "messages", "p1"), 10, 1},
        {counter("a@example.com", 86400, "recipients", "p2"), 5, 3},
    };
    REQUIRE(store->charge(two).outcome == Outcome::admitted);   // recipients: 3 of 5
    const auto d = store->charge(two);                          // 3 more would make 6 > 5
    REQUIRE(d.outcome == Outcome::refused);
    CHECK(d.refused_index == 1);
    CHECK(d.count == 3);
    CHECK(d.limit == 5);
    // Nothing of the refused message was counted: messages still at 1.
    const auto status = store->counters_of("a@example.com");
    REQUIRE(status.status == AdminStatus::ok);
    REQUIRE(status.counters.size() == 2);
    for (const auto& c : status.counters) {
        if (c.counter.unit == "messages") CHECK(c.count == 1);
        else CHECK(c.count == 3);
    }
    // A cost above the limit never fits: no retry_after.
    const CounterRequest huge{counter("a@example.com", 86400, "recipients", "p2"), 5, 6};
    const auto never = store->check({&huge, 1});
    REQUIRE(never.outcome == Outcome::refused);
    CHECK_FALSE(never.retry_after.has_value());
}

inline void contract_refund(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    const std::vector<CounterRequest> reqs{
        {counter("b@example.com", 60, "bytes"), 1000, 700},
        {counter("b@example.com", 60, "messages"), 2, 1},
    };
    ChargeReceipt first, again;
    REQUIRE(store->charge_with_receipt(reqs, first).outcome == Outcome::admitted);
    REQUIRE(first.entries.size() == 2);
    CHECK(store->charge(reqs).outcome == Outcome::refused);     // bytes 1400 > 1000
    CHECK(store->refund(first));
    CHECK(store->charge_with_receipt(reqs, again).outcome == Outcome::admitted);
    // A refund after the window moved on removes nothing that still counts.
    clock.advance(61'000 + 1'000);
    CHECK(store->refund(again));
    CHECK(store->counters_of("b@example.com").counters.empty());
}

inline void contract_repeated_counter_adds_up(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    const std::vector<CounterRequest> twice{
        {counter("c@example.com", 60), 3, 2},
        {counter("c@example.com", 60), 3, 2},
    };
    const auto d = store->check(twice);
    REQUIRE(d.outcome == Outcome::refused);
    CHECK(d.refused_index == 1);
    CHECK(d.count == 0);
    CHECK_FALSE(d.retry_after.has_value());  // 4 units never fit under 3
}

inline void contract_status_and_reset(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    for (const char* who : {"x@example.com", "", "we{ird} %name"}) {
        const std::vector<CounterRequest> reqs{{counter(who, 60, "messages", "p1"), 100, 1},
                                               {counter(who, 60, "messages", "p2"), 100, 1}};
        REQUIRE(store->charge(reqs).outcome == Outcome::admitted);
    }
    const CounterRequest more{counter("x@example.com", 60, "messages", "p1"), 100, 4};
    REQUIRE(store->charge({&more, 1}).outcome == Outcome::admitted);

    auto weird = store->counters_of("we{ird} %name");
    REQUIRE(weird.status == AdminStatus::ok);
    REQUIRE(weird.counters.size() == 2);
    CHECK(weird.counters[0].counter.tracked_value == "we{ird} %name");
    CHECK(weird.counters[0].count == 1);
    REQUIRE(weird.counters[0].next_free.has_value());
    CHECK(weird.counters[0].next_free->count() > 0);
    CHECK(weird.counters[0].next_free->count() <= 61'000);
    // Glob characters in a tracked value are literal: "a*" is not a pattern.
    const CounterRequest star{counter("a*[b]?@example.com", 60), 100, 1};
    const CounterRequest plain{counter("aX[b]Y@example.com", 60), 100, 1};
    REQUIRE(store->charge({&star, 1}).outcome == Outcome::admitted);
    REQUIRE(store->charge({&plain, 1}).outcome == Outcome::admitted);
    REQUIRE(store->counters_of("a*[b]?@example.com").counters.size() == 1);
    CHECK(store->counters_of("a*[b]?@example.com").counters[0].counter == star.counter);
    CHECK(store->counters_of("a*").counters.empty());
    CHECK(store->reset("a*[b]?@example.com", std::nullopt).status == AdminStatus::ok);
    CHECK(store->counters_of("aX[b]Y@example.com").counters.size() == 1);
    CHECK(store->reset("aX[b]Y@example.com", std::nullopt).status == AdminStatus::ok);
    CHECK(store->counters_of("").counters.size() == 2);      // the null sender, as <>
    CHECK(store->counters_of("<>").counters.size() == 2);

    auto top = store->most_loaded(1);
    REQUIRE(top.status == AdminStatus::ok);
    REQUIRE(top.counters.size() == 1);
    CHECK(top.counters[0].count == 5);
    CHECK(top.counters[0].counter == counter("x@example.com", 60, "messages", "p1"));
    CHECK(store->most_loaded(100).counters.size() == 6);

    CHECK(store->reset("x@example.com", std::string("p1")).status == AdminStatus::ok);
    auto x = store->counters_of("x@example.com");
    REQUIRE(x.counters.size() == 1);
    CHECK(x.counters[0].counter.policy == "p2");
    CHECK(store->reset("x@example.com", std::nullopt).status == AdminStatus::ok);
    CHECK(store->counters_of("x@example.com").counters.empty());
    CHECK(store->counters_of("we{ird} %name").counters.size() == 2);  // untouched
    // Counts fall to zero once the window has passed.
    clock.advance(62'000);
    CHECK(store->most_loaded(100).counters.empty());
}

inline void contract_clock_stepped_back_is_stricter(const OpenStore& open) {
    SimClock clock;
    auto store = open(clock);
    const CounterRequest req{counter("d@example.com", 10), 2, 1};
    REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
    clock.advance(9'000);
    REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
    clock.advance(-60'000);  // the clock jumps a minute back
    const auto d = store->charge({&req, 1});
    REQUIRE(d.outcome == Outcome::refused);
    CHECK(d.count == 2);
}

inline void run_store_contract(const OpenStore& open) {
    SUBCASE("admits up to the limit, then refuses with retry_after") { contract_admits_up_to_the_limit(open); }
    SUBCASE("all or none over several quotas") { contract_all_or_none(open); }
    SUBCASE("refund undoes a charge") { contract_refund(open); }
    SUBCASE("a counter requested twice adds its costs") { contract_repeated_counter_adds_up(open); }
    SUBCASE("status and reset") { contract_status_and_reset(open); }
    SUBCASE("a clock stepped back only makes it stricter") { contract_clock_stepped_back_is_stricter(open); }
}

}  // namespace quotamilter::test
