// Benchmark of the Redis store (not a test; run by scripts/bench-store.sh):
//  1. decisions per second for a message with 4 applicable quotas, from 8
//     threads, against a private local redis-server;
//  2. Redis memory per (key, quota): MEMORY USAGE of a 50/1800 s counter
//     filled with 50 units spread over the window, and of a sender with 5
//     quotas.
// Bounded: a fixed duration (default 5 s, argv[1]) and at most 2 million decisions.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "sim_clock.h"
#include "store/testing.h"

using namespace quotamilter;
using namespace quotamilter::store;
using Clock = std::chrono::steady_clock;

namespace {

StoreOptions options_for(const std::string& url) {
    StoreOptions options;
    options.url = url;
    return options;
}

// The 4 quotas of internal_outbound in rules-v1.md's example.
std::vector<CounterRequest> message_of(int sender) {
    const std::string who = "user" + std::to_string(sender) + "@hudedu.net";
    const std::string net = "192.0." + std::to_string(sender % 200) + ".0/24";
    return {
        {{"internal_outbound", "sender", "messages", 3600, who}, 200, 1},
        {{"internal_outbound", "sender", "recipients", 86400, who}, 2000, 3},
        {{"internal_outbound", "sender", "bytes", 86400, who}, 500'000'000, 25'000},
        {{"internal_outbound", "client_net", "messages", 3600, net}, 1000, 1},
    };
}

std::string cli(test::RedisServer& redis, const std::vector<std::string>& args) {
    std::string out = redis.cli(args);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

long long memory_usage(test::RedisServer& redis, const std::string& key) {
    return std::atoll(redis.cli({"MEMORY", "USAGE", key, "SAMPLES", "0"}).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    const int seconds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    constexpr int threads_count = 8;
    constexpr long long max_decisions = 2'000'000;
    test::RedisServer redis;

    // 1. Throughput.
    auto store = open_store(options_for(redis.url()));
    std::atomic<long long> decisions{0}, admitted{0}, errors{0};
    std::vector<std::vector<double>> latencies(threads_count);
    std::latch start(threads_count);
    const auto until_holder = std::make_shared<Clock::time_point>();
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_count; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            const auto until = Clock::now() + std::chrono::seconds(seconds);
            for (int i = 0; Clock::now() < until && decisions < max_decisions; ++i) {
                const auto message = message_of((t * 7919 + i) % 10'000);
                const auto began = Clock::now();
                const auto d = store->charge(message);
                latencies[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - began).count());
                ++decisions;
                if (d.outcome == Outcome::admitted) ++admitted;
                if (d.outcome == Outcome::store_error) ++errors;
            }
        });
    const auto began = Clock::now();
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto percentile = [&](double p) { return all.empty() ? 0.0 : all[static_cast<std::size_t>(p * (all.size() - 1))]; };
    std::printf("throughput: %lld decisions (charge, 4 quotas each) in %.2f s from %d threads = %.0f decisions/s\n",
                decisions.load(), elapsed, threads_count, decisions / elapsed);
    std::printf("            admitted %lld, store errors %lld; latency p50 %.0f us, p99 %.0f us, max %.0f us\n",
                admitted.load(), errors.load(), percentile(0.5), percentile(0.99), all.empty() ? 0.0 : all.back());

    // Where the time goes: Redis' own accounting of the script calls.
    const std::string stats = redis.cli({"INFO", "commandstats"});
    for (std::size_t at = stats.find("cmdstat_evalsha"); at != std::string::npos;) {
        std::printf("            redis %s\n", stats.substr(at, stats.find('\r', at) - at).c_str());
        break;
    }

    // 2. Memory, with a simulated clock so the window can be filled at once.
    redis.cli({"FLUSHALL"});
    test::SimClock clock;
    TestHooks hooks;
    hooks.simulated_clock_ms = clock.function();
    auto filled = open_store_for_tests(options_for(redis.url()), hooks);
    const CounterRequest quota{{"user1_ratelimit", "sender", "messages", 1800, "user1@hudedu.net"}, 50, 1};
    for (int i = 0; i < 50; ++i) {  // 50 units, one every 36 s: 50 of the 61 buckets
        filled->charge({&quota, 1});
        clock.advance(36'000);
    }
    const std::string key = counter_key("qm:", quota.counter);
    std::printf("memory: 50/1800s quota filled with 50 units over the window: %lld bytes (%s, %s fields)\n",
                memory_usage(redis, key), cli(redis, {"OBJECT", "ENCODING", key}).c_str(),
                cli(redis, {"HLEN", key}).c_str());

    // A sender with 5 quotas (user1_ratelimit plus internal_outbound's 3
    // sender quotas and its client_net quota), 50 messages over 30 minutes.
    redis.cli({"FLUSHALL"});
    auto five = message_of(1);
    five[0].counter.tracked_value = five[1].counter.tracked_value = five[2].counter.tracked_value =
        "user1@hudedu.net";
    five.push_back(quota);
    for (int i = 0; i < 50; ++i) {
        filled->charge(five);
        clock.advance(36'000);
    }
    long long total = 0;
    for (const auto& r : five) {
        const std::string k = counter_key("qm:", r.counter);
        const long long bytes = memory_usage(redis, k);
        total += bytes;
        std::printf("        %-70s %5lld bytes, %s fields\n", k.c_str(), bytes,
                    cli(redis, {"HLEN", k}).c_str());
    }
    std::printf("memory: a sender with 5 quotas, 50 messages in 30 min: %lld bytes, %.0f per (key, quota)\n",
                total, total / 5.0);

    // Worst cases: every bucket of the window holds units (61 for 1800 s, 101 for 1 s).
    for (const std::uint32_t window : {1800u, 1u}) {
        redis.cli({"FLUSHALL"});
        const CounterRequest busy{{"busy", "sender", "bytes", window, "user1@hudedu.net"}, 1'000'000'000'000, 12'345};
        const std::int64_t g = window * 1000 / (window == 1800 ? 60 : 100);
        for (int i = 0; i < 200; ++i) {
            filled->charge({&busy, 1});
            clock.advance(g);
        }
        const std::string k = counter_key("qm:", busy.counter);
        std::printf("memory: worst case, every bucket of a %us window used: %lld bytes (%s, %s fields)\n",
                    window, memory_usage(redis, k), cli(redis, {"OBJECT", "ENCODING", k}).c_str(),
                    cli(redis, {"HLEN", k}).c_str());
    }
    return errors == 0 ? 0 : 1;
}
