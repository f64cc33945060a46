// Integration tests of the Redis store against a private redis-server.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "redis_server.h"
#include "property_cases.h"
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

namespace {
std::unique_ptr<QuotaStore> open_redis(StoreOptions options) {
    auto& redis = shared_redis();
    redis.cli({"FLUSHALL"});
    options.url = redis.url();
    return open_store(options);
}
}  // namespace

TEST_CASE("property: the Redis store never over-admits, never refuses without cause") {
    test::property_holds(open_redis, 3000);
}

TEST_CASE("property: the test catches a Redis script counting one bucket too few") {
    test::property_catches_one_bucket_too_few(open_redis, 3000);
}
