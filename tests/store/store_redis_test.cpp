// Integration tests of the Redis store against a private redis-server.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "redis_server.h"
#include "store_contract.h"

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
        return open_store(test::store_options(redis.url(), clock.function()));
    });
}

TEST_CASE("the store contract, in Redis over a unix socket, db 3") {
    auto& redis = shared_redis();
    test::run_store_contract([&](test::SimClock& clock) {
        redis.cli({"-n", "3", "FLUSHDB"});
        return open_store(test::store_options("unix://" + redis.unix_socket().string() + "?db=3",
                                                 clock.function()));
    });
}
