// Integration tests of the Redis store against a private redis-server.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <algorithm>
#include <latch>
#include <mutex>
#include <random>
#include <thread>

#include "redis_server.h"
#include "property_cases.h"
#include "store_contract.h"
#include "store/window_math.h"

using namespace quotamilter;
using namespace quotamilter::store;

namespace {

test::RedisServer& shared_redis() {
    static test::RedisServer redis;
    return redis;
}

}  // namespace

TEST_CASE("the store contract, in Redis") {
    auto& redis = shared_redis();
    test::run_store_contract([&](test::SimClock& clock) {
        redis.cli({"FLUSHALL"});
        return open_store_for_tests(test::store_options(redis.url()), test::clock_hooks(clock));
    });
}

TEST_CASE("the store contract, in Redis over a unix socket, db 3") {
    auto& redis = shared_redis();
    test::run_store_contract([&](test::SimClock& clock) {
        redis.cli({"-n", "3", "FLUSHDB"});
        return open_store_for_tests(test::store_options("unix://" + redis.unix_socket().string() + "?db=3"),
                                    test::clock_hooks(clock));
    });
}

namespace {
std::unique_ptr<StoreBackend> open_redis(const TestHooks& hooks) {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    return open_store_for_tests(test::store_options(redis.url()), hooks);
}
}  // namespace

TEST_CASE("property: the Redis store never over-admits, never refuses without cause") {
    test::property_holds(open_redis, 3000);
}

TEST_CASE("property: the test catches a Redis script counting one bucket too few") {
    test::property_catches_one_bucket_too_few(open_redis, 3000);
}

TEST_CASE("property: the test catches a Redis script counting one bucket too many") {
    test::property_catches_one_bucket_too_many(open_redis, 3000);
}

namespace {

using Clock = std::chrono::steady_clock;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// What check() counts for one counter: a limit of 0 makes it refuse and say.
std::uint64_t checked_count(StoreBackend& store, const CounterId& id) {
    const CounterRequest probe{id, 0, 1};
    const auto d = store.check({&probe, 1});
    REQUIRE(d.outcome == Outcome::refused);
    return d.count;
}

std::string count_with_redis_cli(test::RedisServer& redis, const std::string& key,
                                 std::uint32_t window_seconds, const std::string& now = "") {
    std::vector<std::string> args{"--eval", QM_SOURCE_DIR "/store/lua/count.lua", key, ",",
                                  std::to_string(window_seconds)};
    if (!now.empty()) args.push_back(now);
    return trim(redis.cli(args));
}

// The one-liner of docs/STORE.md, read from the file so the two cannot drift.
std::string documented_one_liner() {
    std::ifstream doc(QM_SOURCE_DIR "/docs/STORE.md");
    REQUIRE(doc.good());
    for (std::string line; std::getline(doc, line);) {
        const std::string start = "redis-cli EVAL \"";
        if (!line.starts_with(start)) continue;
        const std::size_t end = line.find("\" 1 '");
        REQUIRE(end != std::string::npos);
        return line.substr(start.size(), end - start.size());
    }
    FAIL("no `redis-cli EVAL \"...\" 1 'KEY' WINDOW` line in docs/STORE.md");
    return {};
}

}  // namespace

TEST_CASE("32 threads charging one key at once admit exactly the limit") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    for (const std::string& url : {redis.url(), std::string("memory:")}) {
        CAPTURE(url);
        auto store = open_store_for_tests(test::store_options(url));
        const CounterRequest req{test::counter("hammer@example.com"), 50, 1};
        std::atomic<int> admitted{0}, refused{0}, errors{0};
        std::latch start(32);
        std::vector<std::thread> threads;
        for (int t = 0; t < 32; ++t)
            threads.emplace_back([&] {
                start.arrive_and_wait();
                for (int i = 0; i < 5; ++i) {
                    const auto d = store->charge({&req, 1});
                    if (d.outcome == Outcome::admitted) ++admitted;
                    else if (d.outcome == Outcome::refused) ++refused;
                    else ++errors;
                }
            });
        for (auto& t : threads) t.join();
        CHECK(errors == 0);
        CHECK(admitted == 50);
        CHECK(refused == 32 * 5 - 50);
        CHECK(checked_count(*store, req.counter) == 50);
    }
}

TEST_CASE("Redis stopped or hung: store_error within timeout + 50 ms, then recovery") {
    test::RedisServer redis;  // a private one: this test stops it
    auto options = test::store_options(redis.url());
    options.timeout = std::chrono::milliseconds(250);
    options.pool_size = 4;
    auto store = open_store_for_tests(options);
    const CounterRequest req{test::counter("outage@example.com", 60), 1'000'000, 1};
    REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
    const auto bound = options.timeout + std::chrono::milliseconds(50);

    auto every_call_fails_in_time = [&](int threads_count) {
        std::atomic<int> slow{0}, not_error{0};
        std::atomic<long long> slowest_us{0};
        std::mutex sample_mutex;
        std::string sample_error;
        std::vector<std::thread> threads;
        for (int t = 0; t < threads_count; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 6; ++i) {
                    const auto started = Clock::now();
                    const auto d = store->charge({&req, 1});
                    const auto took = Clock::now() - started;
                    const long long us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
                    for (long long seen = slowest_us; us > seen && !slowest_us.compare_exchange_weak(seen, us);) {
                    }
                    if (took > bound) ++slow;
                    if (d.outcome != Outcome::store_error) ++not_error;
                    else if (d.error.empty()) ++not_error;  // a store_error says what failed
                    {
                        std::lock_guard lock(sample_mutex);
                        if (sample_error.empty() || d.error.find("timed out") != std::string::npos)
                            sample_error = d.error;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(40));
                }
            });
        for (auto& t : threads) t.join();
        MESSAGE(threads_count << " thread(s): slowest call " << slowest_us / 1000.0
                              << " ms; e.g. \"" << sample_error << "\"");
        CHECK(slow == 0);
        CHECK(not_error == 0);
    };
    auto recovers = [&] {
        const auto give_up = Clock::now() + std::chrono::seconds(5);
        bool ok = false;
        while (!ok && Clock::now() < give_up) {
            ok = store->charge({&req, 1}).outcome == Outcome::admitted;
            if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        CHECK(ok);
        // Once recovered, it stays up: no stale pooled connection fails later.
        for (int i = 0; i < 20; ++i) CHECK(store->charge({&req, 1}).outcome == Outcome::admitted);
    };

    SUBCASE("stopped, then restarted on the same port") {
        redis.stop();
        every_call_fails_in_time(1);
        every_call_fails_in_time(8);
        redis.start();
        recovers();
    }
    SUBCASE("hung (SIGSTOP), then resumed (SIGCONT)") {
        redis.pause();
        every_call_fails_in_time(1);
        every_call_fails_in_time(8);  // more callers than pooled connections
        redis.resume();
        recovers();
    }
}

TEST_CASE("Redis down from the start: a store_error, not a crash; the same store recovers") {
    test::RedisServer redis;
    redis.stop();
    auto store = open_store_for_tests(test::store_options(redis.url()));
    const CounterRequest req{test::counter("late@example.com", 60), 10, 1};
    const auto d = store->check({&req, 1});
    CHECK(d.outcome == Outcome::store_error);
    CHECK(d.error.find("connect") != std::string::npos);
    CHECK(store->counters_of("late@example.com").status == AdminStatus::store_error);
    CHECK(store->reset("late@example.com", std::nullopt).status == AdminStatus::store_error);
    redis.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the longest back-off
    CHECK(store->charge({&req, 1}).outcome == Outcome::admitted);
}

TEST_CASE("the documented redis-cli commands print what the store counts") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    const CounterId id = test::counter("user1@hudedu.net", 1800);
    const std::string key = "qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s";
    REQUIRE(counter_key("qm:", id) == key);

    SUBCASE("real time") {
        auto store = open_store_for_tests(test::store_options(redis.url()));
        const CounterRequest req{id, 50, 1};
        for (int i = 0; i < 3; ++i) REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
        CHECK(trim(redis.cli({"--scan", "--pattern", "qm:{user1@hudedu.net}:*"})) == key);
        CHECK(count_with_redis_cli(redis, key, 1800) == "3");
        CHECK(trim(redis.cli({"EVAL", documented_one_liner(), "1", key, "1800"})) == "3");
        CHECK(checked_count(*store, id) == 3);
        const auto status = store->counters_of("user1@hudedu.net");
        REQUIRE(status.counters.size() == 1);
        CHECK(status.counters[0].count == 3);
        CHECK(trim(redis.cli({"OBJECT", "ENCODING", key})) == "listpack");
        const auto ttl = std::stoll(trim(redis.cli({"PTTL", key})));
        CHECK(ttl > 1800'000);
        CHECK(ttl <= 1800'000 + 30'000);
    }
    SUBCASE("a bucket gone stale since the last write: the running sum is not the count") {
        test::SimClock clock;
        auto store = open_store_for_tests(test::store_options(redis.url()), test::clock_hooks(clock));
        const CounterRequest two{id, 50, 2}, one{id, 50, 1};
        REQUIRE(store->charge({&two, 1}).outcome == Outcome::admitted);
        clock.advance(900'000);
        REQUIRE(store->charge({&one, 1}).outcome == Outcome::admitted);
        clock.advance(900'000 + 60'000);  // the first charge no longer counts
        const std::string now = std::to_string(clock.now());
        CHECK(checked_count(*store, id) == 1);
        CHECK(count_with_redis_cli(redis, key, 1800, now) == "1");
        CHECK(trim(redis.cli({"HGET", key, "sum"})) == "3");  // why the docs do not use HGET sum
    }
}

TEST_CASE("count.lua by hand (the window only) uses the bucket width of store/window_math.h") {
    // store/window_math.h is the authority; count.lua repeats the rule only
    // for operators who pass no width. One unit in the bucket starting at
    // `now`: the script's next_free is W + g, so it shows the g it used.
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    std::vector<std::uint32_t> windows{61, 67, 97, 600, 999, 1800, 3600, 12345, 86400, 604800, 2678400};
    for (std::uint32_t w = 1; w <= 60; ++w) windows.push_back(w);
    for (const std::uint32_t w : windows) {
        CAPTURE(w);
        const std::int64_t w_ms = store::window_math::window_ms(w);
        const std::int64_t g = store::window_math::bucket_width_ms(w_ms);
        const std::int64_t now = 1'764'000'000'000 / (g * 7) * (g * 7);  // a multiple of g
        const std::string key = "qm:{width}:p:sender:messages:" + std::to_string(w) + "s";
        redis.cli({"HSET", key, std::to_string(now), "1", "last", std::to_string(now)});
        for (const std::string& width : {std::string(), std::to_string(g)}) {
            const std::string reply = trim(redis.cli({"--eval", QM_SOURCE_DIR "/store/lua/count.lua", key, ",",
                                                      std::to_string(w), std::to_string(now), "detail",
                                                      "0", width}));
            CHECK(reply == "1\n" + std::to_string(w_ms + g));
        }
    }
}

TEST_CASE("idle counters expire by themselves (PEXPIRE)") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    auto store = open_store_for_tests(test::store_options(redis.url()));
    const CounterRequest req{test::counter("brief@example.com", 1), 5, 1};
    REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
    const std::string key = counter_key("qm:", req.counter);
    const auto ttl = std::stoll(trim(redis.cli({"PTTL", key})));
    CHECK(ttl > 0);
    CHECK(ttl <= 1'000 + 10);
    const auto give_up = Clock::now() + std::chrono::seconds(3);
    while (trim(redis.cli({"EXISTS", key})) != "0" && Clock::now() < give_up)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(trim(redis.cli({"EXISTS", key})) == "0");
}

TEST_CASE("a full 1800 s counter stays a small listpack hash") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    test::SimClock clock;
    auto store = open_store_for_tests(test::store_options(redis.url()), test::clock_hooks(clock));
    const CounterRequest req{test::counter("full@example.com", 1800), 1'000'000, 7};
    for (int i = 0; i < 300; ++i) {  // every bucket used, for 3 windows
        REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
        clock.advance(18'000);
    }
    const std::string key = counter_key("qm:", req.counter);
    CHECK(trim(redis.cli({"OBJECT", "ENCODING", key})) == "listpack");
    CHECK(std::stoi(trim(redis.cli({"HLEN", key}))) <= 61 + 2);
    CHECK(std::stoll(trim(redis.cli({"MEMORY", "USAGE", key}))) <= 1024);
    // The running sum equals the sum of the buckets (eviction on write keeps it).
    CHECK(count_with_redis_cli(redis, key, 1800, std::to_string(clock.now() - 18'000)) ==
          trim(redis.cli({"HGET", key, "sum"})));
}

TEST_CASE("the script cache emptied (SCRIPT FLUSH): EVAL takes over") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    auto store = open_store_for_tests(test::store_options(redis.url()));
    const CounterRequest req{test::counter("flush@example.com", 60), 5, 1};
    REQUIRE(store->charge({&req, 1}).outcome == Outcome::admitted);
    redis.cli({"SCRIPT", "FLUSH"});
    CHECK(store->charge({&req, 1}).outcome == Outcome::admitted);
    CHECK(checked_count(*store, req.counter) == 2);
    redis.cli({"SCRIPT", "FLUSH"});
    CHECK(store->counters_of("flush@example.com").counters.at(0).count == 2);
}

TEST_CASE("AUTH with an ACL user and SELECT a database") {
    test::RedisServer redis({"--requirepass", "defaultpw", "--user", "app", "on", ">s3cr@t",
                             "~qm:*", "+@all"});
    const CounterRequest req{test::counter("acl@example.com", 60), 5, 1};
    auto store = open_store_for_tests(test::store_options("redis://app:s3cr%40t@127.0.0.1:" +
                                                std::to_string(redis.port()) + "/5"));
    CHECK(store->charge({&req, 1}).outcome == Outcome::admitted);
    CHECK(trim(redis.cli({"-a", "defaultpw", "--no-auth-warning", "-n", "5", "EXISTS",
                          counter_key("qm:", req.counter)})) == "1");
    auto with_default_user = open_store_for_tests(
        test::store_options("redis://:defaultpw@127.0.0.1:" + std::to_string(redis.port()) + "/5"));
    CHECK(checked_count(*with_default_user, req.counter) == 1);
    auto wrong = open_store_for_tests(
        test::store_options("redis://app:wrong@127.0.0.1:" + std::to_string(redis.port())));
    const auto d = wrong->charge({&req, 1});
    CHECK(d.outcome == Outcome::store_error);
    CHECK(d.error.find("AUTH") != std::string::npos);
}

TEST_CASE("Redis and memory stores decide identically, step by step") {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    test::SimClock clock;
    auto in_redis = open_store_for_tests(test::store_options(redis.url()), test::clock_hooks(clock));
    auto in_memory = open_store_for_tests(test::store_options("memory:"), test::clock_hooks(clock));
    std::mt19937 random(42);
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(random); };
    const std::vector<std::uint32_t> windows{1, 7, 60, 1800, 86400, 2678400};
    std::vector<ChargeReceipt> receipts;
    std::size_t compared = 0, refusals = 0;
    const auto give_up = Clock::now() + std::chrono::seconds(8);
    for (int step = 0; step < 3000 && Clock::now() < give_up; ++step) {
        const std::uint32_t w = windows[pick(windows.size())];
        const std::int64_t g = store::window_math::bucket_width_ms(w * 1000LL);
        switch (pick(6)) {
            case 0: clock.advance(0); break;
            case 1: clock.advance(g - 1 - clock.now() % g); break;
            case 2: clock.advance(static_cast<std::int64_t>(pick(static_cast<std::uint64_t>(w) * 1000 / 20 + 1))); break;
            case 3: clock.advance(static_cast<std::int64_t>(pick(static_cast<std::uint64_t>(g) + 1))); break;
            case 4: if (pick(50) == 0) clock.advance(-static_cast<std::int64_t>(pick(5000))); break;  // clock steps back
            default: break;
        }
        std::vector<CounterRequest> message;
        const std::string sender = "s" + std::to_string(pick(3)) + "@example.com";
        for (std::uint64_t q = 0, n = 1 + pick(4); q < n; ++q) {
            const std::uint32_t qw = windows[pick(windows.size())];
            const char* unit = q % 2 ? "recipients" : "messages";
            message.push_back({test::counter(sender, qw, unit, "p" + std::to_string(qw)), 5 + pick(10),
                               1 + pick(q % 2 ? 6 : 1)});
        }
        const int op = static_cast<int>(pick(10));
        if (op == 0 && !receipts.empty()) {
            const auto receipt = receipts[pick(receipts.size())];
            CHECK(in_redis->refund(receipt));
            CHECK(in_memory->refund(receipt));
            continue;
        }
        const bool charging = op > 2;
        ChargeReceipt ra, rb;
        const auto a = charging ? in_redis->charge_with_receipt(message, ra) : in_redis->check(message);
        const auto b = charging ? in_memory->charge_with_receipt(message, rb) : in_memory->check(message);
        INFO("step " << step << " at " << clock.now());
        REQUIRE(a.outcome != Outcome::store_error);
        CHECK(a.outcome == b.outcome);
        CHECK(a.refused_index == b.refused_index);
        CHECK(a.count == b.count);
        CHECK(a.limit == b.limit);
        CHECK(a.retry_after == b.retry_after);
        REQUIRE(ra.entries.size() == rb.entries.size());
        for (std::size_t i = 0; i < ra.entries.size(); ++i) {
            CHECK(ra.entries[i].bucket_ms == rb.entries[i].bucket_ms);
            CHECK(ra.entries[i].cost == rb.entries[i].cost);
        }
        if (a.outcome == Outcome::admitted && charging) receipts.push_back(ra);
        refusals += a.outcome == Outcome::refused;
        ++compared;
        if (step % 100 == 0) {
            const auto in_a = in_redis->counters_of(sender), in_b = in_memory->counters_of(sender);
            REQUIRE(in_a.counters.size() == in_b.counters.size());
            auto by_key = [](const store::CounterStatus& x, const store::CounterStatus& y) {
                return counter_key("", x.counter) < counter_key("", y.counter);
            };
            auto sa = in_a.counters, sb = in_b.counters;
            std::sort(sa.begin(), sa.end(), by_key);
            std::sort(sb.begin(), sb.end(), by_key);
            for (std::size_t i = 0; i < sa.size(); ++i) {
                CHECK(sa[i].counter == sb[i].counter);
                CHECK(sa[i].count == sb[i].count);
                CHECK(sa[i].next_free == sb[i].next_free);
            }
        }
    }
    MESSAGE("compared " << compared << " decisions, " << refusals << " refusals, "
                        << receipts.size() << " receipts");
    CHECK(compared > 500);
    CHECK(refusals > 50);
}
