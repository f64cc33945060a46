// Unit tests of the store room: key layout, URLs, bucket arithmetic, and the
// store contract against the in-memory store.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <stdexcept>

#include "store/cluster_slots.h"
#include "store/key_layout.h"
#include "store/redis_url.h"
#include "store/window_math.h"
#include "property_cases.h"
#include "store_contract.h"

using namespace quotamilter;
using namespace quotamilter::store;

TEST_CASE("counter_key: readable, the tracked value as an escaped hash tag") {
    CHECK(counter_key("qm:", {"user1_ratelimit", "sender", "messages", 1800, "user1@hudedu.net"}) ==
          "qm:{user1@hudedu.net}:user1_ratelimit:sender:messages:1800s");
    CHECK(counter_key("qm:", {"p", "sender", "messages", 60, ""}) == "qm:{<>}:p:sender:messages:60s");
    CHECK(counter_key("qm:", {"p", "header:from", "bytes", 60, "a b{c}%\n\x7f"}) ==
          "qm:{a%20b%7Bc%7D%25%0A%7F}:p:header:from:bytes:60s");
    CHECK(counter_key("x:", {"p", "client_net", "messages", 3600, "192.0.2.0/24"}) ==
          "x:{192.0.2.0/24}:p:client_net:messages:3600s");
}

TEST_CASE("parse_counter_key inverts counter_key") {
    const CounterId ids[] = {
        {"user1_ratelimit", "sender", "messages", 1800, "user1@hudedu.net"},
        {"p.x-y", "header:from", "bytes", 2678400, "we{ird}: %20 name\t"},
        {"p", "client_net", "recipients", 1, "2001:db8::/32"},
        {"p", "sender", "messages", 60, "<>"},
    };
    for (const auto& id : ids) {
        const auto parsed = key_layout::parse_counter_key("qm:", counter_key("qm:", id));
        REQUIRE(parsed.has_value());
        CHECK(*parsed == id);
    }
    CHECK_FALSE(key_layout::parse_counter_key("qm:", "qm:{a}:p:sender:messages:60").has_value());
    CHECK_FALSE(key_layout::parse_counter_key("qm:", "other:{a}:p:sender:messages:60s").has_value());
    CHECK_FALSE(key_layout::parse_counter_key("qm:", "qm:{a}:p:messages:60s").has_value());
    CHECK(key_layout::scan_pattern("qm:", "a*b?@x", std::string("p")) == "qm:{a\\*b\\?@x}:p:*");
}

TEST_CASE("bucket width: W an exact multiple, g <= W/60, at most 101 counted buckets") {
    CHECK(window_math::bucket_width_ms(1'000) == 10);           // k = 100
    CHECK(window_math::bucket_width_ms(7'000) == 100);          // k = 70
    CHECK(window_math::bucket_width_ms(1'800'000) == 30'000);   // k = 60
    CHECK(window_math::bucket_width_ms(2'678'400'000) == 44'640'000);
    for (std::uint32_t s = 1; s <= 31 * 86400; s += (s < 5000 ? 1 : 997)) {
        const std::int64_t w = window_math::window_ms(s);
        const std::int64_t g = window_math::bucket_width_ms(w);
        REQUIRE(w % g == 0);
        REQUIRE(g * 60 <= w);
        REQUIRE(w / g <= 100);
    }
    CHECK(window_math::current_bucket(1'234'567, 1000, 0) == 1'234'000);
    CHECK(window_math::current_bucket(1'234'567, 1000, 2'000'000) == 2'000'000);  // monotonic
}

TEST_CASE("Redis URLs") {
    auto e = parse_redis_url("redis://127.0.0.1:6380/2");
    CHECK(e.host == "127.0.0.1");
    CHECK(e.port == 6380);
    CHECK(e.db == 2);
    CHECK(e.password.empty());
    e = parse_redis_url("redis://app:s%40cret@redis.example:6379");
    CHECK(e.user == "app");
    CHECK(e.password == "s@cret");
    CHECK(e.host == "redis.example");
    CHECK(e.db == 0);
    e = parse_redis_url("redis://:pw@[::1]/3");
    CHECK(e.user.empty());
    CHECK(e.password == "pw");
    CHECK(e.host == "::1");
    CHECK(e.port == 6379);
    CHECK(e.db == 3);
    e = parse_redis_url("unix:///run/redis/redis.sock?db=4");
    CHECK(e.kind == RedisEndpoint::Kind::unix_socket);
    CHECK(e.socket_path == "/run/redis/redis.sock");
    CHECK(e.db == 4);
    CHECK(describe(parse_redis_url("redis://u:pw@h:1/2")) == "redis://u:***@h:1/2");
    for (const char* bad : {"redis://", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/x",
                            "redis://pw@h", "http://h", "unix://relative", "unix:///s?db=x",
                            "redis://u:%zz@h", "redis://[::1"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_redis_url(bad), std::invalid_argument);
    }
    CHECK_THROWS_AS(parse_redis_url("redis+cluster://h:1"), std::invalid_argument);  // several hosts
    auto bad_prefix = test::store_options("memory:");
    bad_prefix.key_prefix = "q{m";
    CHECK_THROWS_AS(open_store(bad_prefix), std::invalid_argument);
    CHECK_THROWS_AS(open_counter_admin(bad_prefix), std::invalid_argument);
    CHECK(open_store(test::store_options("redis://127.0.0.1:1/0")) != nullptr);  // never connects eagerly
}

TEST_CASE("Sentinel and Cluster URLs") {
    auto t = parse_redis_topology("redis+sentinel://u:p%40ss@10.0.0.1:26379,10.0.0.2:26380,[::1]/qm-master/2");
    CHECK(t.kind == RedisTopology::Kind::sentinel);
    CHECK(t.master_name == "qm-master");
    CHECK(t.endpoint.db == 2);
    CHECK(t.endpoint.user == "u");
    CHECK(t.endpoint.password == "p@ss");
    REQUIRE(t.seeds.size() == 3);
    CHECK(t.seeds[0] == RedisAddress{"10.0.0.1", 26379});
    CHECK(t.seeds[1] == RedisAddress{"10.0.0.2", 26380});
    CHECK(t.seeds[2] == RedisAddress{"::1", 26379});  // the Sentinel default port
    t = parse_redis_topology("redis+sentinel://h:1/m");
    CHECK(t.endpoint.db == 0);
    CHECK(t.endpoint.password.empty());
    t = parse_redis_topology("redis+cluster://:pw@n1:7000,n2:7001,n3");
    CHECK(t.kind == RedisTopology::Kind::cluster);
    CHECK(t.endpoint.password == "pw");
    REQUIRE(t.seeds.size() == 3);
    CHECK(t.seeds[2] == RedisAddress{"n3", 6379});
    t = parse_redis_topology("redis://h:1/4");
    CHECK(t.kind == RedisTopology::Kind::single);
    CHECK(t.endpoint.db == 4);
    for (const char* bad : {"redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel://h:1,/m",
                            "redis+sentinel://h:x/m", "redis+cluster://h:1/0", "redis+cluster://",
                            "redis+cluster://h:1,,h:2", "redis+sentinel://h:1/m/x"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_redis_topology(bad), std::invalid_argument);
    }
    // Never connects eagerly, whatever the topology.
    CHECK(open_store(test::store_options("redis+sentinel://127.0.0.1:1/m")) != nullptr);
    CHECK(open_counter_admin(test::store_options("redis+cluster://127.0.0.1:1")) != nullptr);
}

TEST_CASE("Cluster key slots: CRC16 of the hash tag") {
    CHECK(cluster::crc16("123456789") == 0x31C3);  // the Cluster spec's check value
    CHECK(cluster::key_slot("foo") == 12182);
    CHECK(cluster::key_slot("{user1000}.following") == cluster::key_slot("{user1000}.followers"));
    CHECK(cluster::key_slot("foo{}{bar}") == cluster::crc16("foo{}{bar}") % 16384);  // empty tag: whole key
    CHECK(cluster::key_slot("foo{{bar}}zap") == cluster::crc16("{bar") % 16384);
    // Every counter of one tracked value shares its slot.
    const auto a = counter_key("qm:", {"p1", "sender", "messages", 60, "user1@hudedu.net"});
    const auto b = counter_key("qm:", {"p2", "header:from", "bytes", 86400, "user1@hudedu.net"});
    CHECK(cluster::key_slot(a) == cluster::key_slot(b));
    CHECK(cluster::key_slot(a) == cluster::key_slot("user1@hudedu.net"));
    const auto moved = cluster::redirect_address("MOVED 3999 127.0.0.1:6381");
    REQUIRE(moved.has_value());
    CHECK(*moved == RedisAddress{"127.0.0.1", 6381});
    CHECK(cluster::redirect_address("ASK 1 ::1:7000") == std::optional<RedisAddress>(RedisAddress{"::1", 7000}));
    CHECK_FALSE(cluster::redirect_address("MOVED 1 nowhere").has_value());
}

TEST_CASE("the store contract, in memory") {
    test::run_store_contract([](test::SimClock& clock) {
        return open_store_for_tests(test::store_options("memory:"), test::clock_hooks(clock));
    });
}

namespace {
std::unique_ptr<StoreBackend> open_memory(const TestHooks& hooks) {
    return open_store_for_tests(test::store_options("memory:"), hooks);
}
}  // namespace

TEST_CASE("property: the memory store never over-admits, never refuses without cause") {
    test::property_holds(open_memory, 3000);
}

TEST_CASE("property: the test catches a memory store counting one bucket too few") {
    test::property_catches_one_bucket_too_few(open_memory, 3000);
}

TEST_CASE("property: the test catches a memory store counting one bucket too many") {
    test::property_catches_one_bucket_too_many(open_memory, 3000);
}
