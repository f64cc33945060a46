// `quotamilter status` and `reset` against counters the store really wrote.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "redis_server.h"
#include "store/quota_store.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace {

using quotamilter::store::CounterId;
using quotamilter::store::CounterRequest;
using quotamilter::store::Outcome;

struct CommandResult {
    int exit_code = -1;
    std::string output;
};

std::string quote(const std::string& arg) {
    std::string quoted = "'";
    for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

CommandResult run(const std::vector<std::string>& args) {
    std::string command = QUOTAMILTER_BINARY;
    for (const auto& arg : args) command += " " + quote(arg);
    command += " 2>&1";
    CommandResult result;
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::unique_ptr<quotamilter::store::QuotaStore> open_store(const quotamilter::test::RedisServer& redis) {
    quotamilter::store::StoreOptions options;
    options.url = redis.url();
    return quotamilter::store::open_store(options);
}

const std::string kRules = std::string(QM_SOURCE_DIR) + "/rules/examples/hudedu.json";

CounterRequest user1_message() {
    return {CounterId{"user1_ratelimit", "sender", "messages", 1800, "user1@hudedu.net"}, 50, 1};
}

CounterRequest client_net_message() {
    return {CounterId{"internal_outbound", "client_net", "messages", 3600, "192.0.2.0/24"}, 1000, 1};
}

void charge(quotamilter::store::QuotaStore& store, const CounterRequest& request, int times) {
    for (int i = 0; i < times; ++i) {
        std::array requests{request};
        REQUIRE(store.charge(requests).outcome == Outcome::admitted);
    }
}

}  // namespace

TEST_CASE("status shows count/limit of every counter tracking a key, normalised like the milter") {
    quotamilter::test::RedisServer redis;
    auto store = open_store(redis);
    charge(*store, user1_message(), 3);

    auto shown = run({"status", "--redis", redis.url(), "--rules", kRules, "User1+promo@HUDEDU.NET"});
    CHECK(shown.exit_code == 0);
    CHECK(shown.output.find("user1_ratelimit") != std::string::npos);
    CHECK(shown.output.find("user1@hudedu.net") != std::string::npos);
    CHECK(shown.output.find("3/50") != std::string::npos);
    CHECK(shown.output.find("30m") != std::string::npos);

    charge(*store, user1_message(), 47);
    auto full = run({"status", "--redis", redis.url(), "--rules", kRules, "--json", "user1@hudedu.net"});
    CHECK(full.exit_code == 1);  // "may user1 send?" no
    auto document = nlohmann::json::parse(full.output);
    REQUIRE(document["counters"].size() == 1);
    CHECK(document["counters"][0]["count"] == 50);
    CHECK(document["counters"][0]["limit"] == 50);
    CHECK(document["counters"][0]["full"] == true);
    CHECK(document["counters"][0]["next_free_ms"].get<long>() > 0);
}

TEST_CASE("status without rules shows counts with unknown limits; an IP finds its client_net counter") {
    quotamilter::test::RedisServer redis;
    auto store = open_store(redis);
    charge(*store, client_net_message(), 4);

    auto by_ip = run({"status", "--redis", redis.url(), "--rules", kRules, "192.0.2.77"});
    CHECK(by_ip.exit_code == 0);
    CHECK(by_ip.output.find("192.0.2.0/24") != std::string::npos);
    CHECK(by_ip.output.find("4/1000") != std::string::npos);

    auto no_rules = run({"status", "--redis", redis.url(), "192.0.2.0/24"});
    CHECK(no_rules.exit_code == 0);
    CHECK(no_rules.output.find("4/-") != std::string::npos);
}

TEST_CASE("status without a key lists the most loaded counters first") {
    quotamilter::test::RedisServer redis;
    auto store = open_store(redis);
    charge(*store, client_net_message(), 2);
    charge(*store, user1_message(), 9);

    auto top = run({"status", "--redis", redis.url(), "--rules", kRules, "--json", "--top", "1"});
    CHECK(top.exit_code == 0);
    auto document = nlohmann::json::parse(top.output);
    REQUIRE(document["counters"].size() == 1);
    CHECK(document["counters"][0]["key"] == "user1@hudedu.net");
    CHECK(document["counters"][0]["count"] == 9);
}

TEST_CASE("reset clears a key's counters, of one policy when asked, and the quota admits again") {
    quotamilter::test::RedisServer redis;
    auto store = open_store(redis);
    charge(*store, user1_message(), 50);
    std::array one_more{user1_message()};
    REQUIRE(store->charge(one_more).outcome == Outcome::refused);

    auto other_policy = run({"reset", "--redis", redis.url(), "user1@hudedu.net", "--policy", "internal_outbound"});
    CHECK(other_policy.exit_code == 0);
    CHECK(store->charge(one_more).outcome == Outcome::refused);

    auto cleared = run({"reset", "--redis", redis.url(), "USER1+x@hudedu.net"});
    CHECK(cleared.exit_code == 0);
    CHECK(cleared.output.empty());  // quiet on success
    CHECK(store->charge(one_more).outcome == Outcome::admitted);
    auto shown = run({"status", "--redis", redis.url(), "--rules", kRules, "user1@hudedu.net"});
    CHECK(shown.output.find("1/50") != std::string::npos);
}

TEST_CASE("usage errors exit 2, an unreachable store exits 1") {
    CHECK(run({"reset"}).exit_code == 2);
    CHECK(run({"status", "a", "b"}).exit_code == 2);
    CHECK(run({"status", "--bogus"}).exit_code == 2);
    const int port = quotamilter::test::free_loopback_port();
    auto down = run({"status", "--redis", "redis://127.0.0.1:" + std::to_string(port) + "/0", "user1@hudedu.net"});
    CHECK(down.exit_code == 1);
    CHECK(down.output.find("store") != std::string::npos);
}
