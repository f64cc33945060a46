// Benchmark (not a test; run by scripts/bench-cluster.sh): decisions per
// second against a 3-master Redis Cluster vs one standalone redis-server, on
// this machine, same messages, same threads, rounds alternated so that both
// see the same background load:
//   "4 quotas, 2 slots": internal_outbound of rules-v1.md (3 sender quotas +
//                        a client_net quota: two tracked values, two slots
//                        in a cluster, so two round trips);
//   "3 quotas, 1 slot":  the sender quotas only (one round trip anywhere).
// Bounded: argv[1] seconds per round (default 3), 2 rounds each; argv[2]
// client threads (default 8; 1 shows the latency of one message, where a
// message over two slots costs one round trip or two).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.h"
#include "redis_topology.h"
#include "store/quota_store.h"

using namespace quotamilter;
using namespace quotamilter::store;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<CounterRequest> message_of(int sender, bool with_network) {
    const std::string who = "user" + std::to_string(sender) + "." + std::to_string(sender * 2654435761u % 100003) +
                            "@hudedu.net";
    const std::string net = "192.0." + std::to_string(sender % 200) + ".0/24";
    std::vector<CounterRequest> message{
        {{"internal_outbound", "sender", "messages", 3600, who}, 200, 1},
        {{"internal_outbound", "sender", "recipients", 86400, who}, 2000, 3},
        {{"internal_outbound", "sender", "bytes", 86400, who}, 500'000'000, 25'000},
    };
    if (with_network) message.push_back({{"internal_outbound", "client_net", "messages", 3600, net}, 1000, 1});
    return message;
}

struct Round {
    double per_second = 0;
    long long errors = 0;
};

Round run(const std::string& url, bool with_network, int seconds, int threads_count) {
    StoreOptions options;
    options.url = url;
    auto store = open_store(options);
    std::atomic<long long> decisions{0}, errors{0};
    std::latch start(threads_count + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < threads_count; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            const auto until = Clock::now() + std::chrono::seconds(seconds);
            for (int i = 0; Clock::now() < until && i < 1'000'000; ++i) {
                const auto d = store->charge(message_of((t * 7919 + i) % 10'000, with_network));
                ++decisions;
                if (d.outcome == Outcome::store_error) ++errors;
            }
        });
    const auto began = Clock::now();
    start.arrive_and_wait();
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
    return {decisions / elapsed, errors.load()};
}

}  // namespace

int main(int argc, char** argv) {
    const int seconds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
    const int threads_count = argc > 2 ? std::clamp(std::atoi(argv[2]), 1, 64) : 8;
    std::printf("threads: %d\n", threads_count);
    test::RedisServer standalone;
    test::ClusterGroup cluster;
    long long errors = 0;
    for (const bool with_network : {true, false}) {
        double single_total = 0, cluster_total = 0;
        for (int round = 0; round < 2; ++round) {
            standalone.cli({"FLUSHALL"});
            cluster.flush_all();
            const Round a = run(standalone.url(), with_network, seconds, threads_count);
            const Round b = run(cluster.url(), with_network, seconds, threads_count);
            single_total += a.per_second;
            cluster_total += b.per_second;
            errors += a.errors + b.errors;
            std::printf("%-18s round %d: standalone %6.0f decisions/s, cluster %6.0f decisions/s (errors %lld/%lld)\n",
                        with_network ? "4 quotas, 2 slots" : "3 quotas, 1 slot", round + 1, a.per_second,
                        b.per_second, a.errors, b.errors);
        }
        std::printf("%-18s mean:    standalone %6.0f, cluster %6.0f: cluster/standalone = %.2f\n",
                    with_network ? "4 quotas, 2 slots" : "3 quotas, 1 slot", single_total / 2,
                    cluster_total / 2, cluster_total / single_total);
    }
    return errors == 0 ? 0 : 1;
}
