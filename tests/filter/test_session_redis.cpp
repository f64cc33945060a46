// The filter core against a real redis-server: counting through Redis, and
// Redis outages (stopped, hung) answered per on_store_error in bounded time,
// logged once per outage and once on recovery.
#include "redis_server.h"
#include "session_fixture.h"

#include "store/testing.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

using quotamilter::filter::FilterAnswer;
using quotamilter::filter::FilterSettings;
using quotamilter::filter::OnStoreError;
using namespace quotamilter::test;
using Action = FilterAnswer::Action;

namespace {

const char* kRules = R"({
  "version": 1,
  "policies": [
    { "name": "per_sender", "match": { "sender": ["@hudedu.net"] },
      "quotas": [
        { "track": "sender", "messages": 3, "window": "1h", "verdict": "reject" },
        { "track": "sender", "recipients": 4, "window": "1h" }
      ] }
  ]
})";

std::unique_ptr<quotamilter::store::StoreBackend> redis_store(const RedisServer& redis) {
    quotamilter::store::StoreOptions options;
    options.url = redis.url();
    options.timeout = std::chrono::milliseconds(250);
    options.key_prefix = "qmtest:";
    return quotamilter::store::open_store_for_tests(options);
}

// Bound for one milter callback while Redis is down: the store timeout plus
// generous slack for a loaded CI machine; a hang would take far longer.
constexpr auto kBound = std::chrono::seconds(3);

template <class F>
std::chrono::milliseconds timed(F&& f) {
    auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

// After a restart the store reconnects with a short backoff: retry a few
// times (bounded) until a message goes through.
bool eventually_accepted(quotamilter::filter::Session& session, const std::string& from) {
    for (int attempt = 0; attempt < 30; ++attempt) {
        Transaction t = send_message(session, from, {"r@x.example"});
        if (t.reached_eom && t.eom.action == Action::continue_) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

}  // namespace

TEST_CASE("Redis: messages and recipients counted once, refusals at MAIL and RCPT") {
    RedisServer redis;
    auto store = redis_store(redis);
    FilterFixture f(kRules, {}, store.get());
    auto session = f.connect();
    Transaction first = send_message(*session, "a@hudedu.net", {"r1@x.example", "r2@x.example", "r3@x.example"});
    CHECK(first.eom.action == Action::continue_);
    Transaction second = send_message(*session, "a@hudedu.net", {"r4@x.example", "r5@x.example"});
    REQUIRE(second.rcpts.size() == 2);
    CHECK(second.rcpts[0].action == Action::continue_);
    CHECK(second.rcpts[1].action == Action::tempfail);  // 3 + 2 > 4
    CHECK(second.eom.action == Action::continue_);
    CHECK(send_message(*session, "a@hudedu.net", {"r6@x.example"}).rcpts.at(0).action == Action::tempfail);

    auto status = store->counters_of("a@hudedu.net");
    REQUIRE(status.status == quotamilter::store::AdminStatus::ok);
    std::uint64_t messages = 0, recipients = 0;
    for (const auto& c : status.counters) {
        if (c.counter.unit == "messages") messages = c.count;
        if (c.counter.unit == "recipients") recipients = c.count;
    }
    CHECK(messages == 2);
    CHECK(recipients == 4);
}

TEST_CASE("Redis stopped, then hung: tempfail in bounded time, one outage line, one recovery line") {
    RedisServer redis;
    auto store = redis_store(redis);
    FilterFixture f(kRules, {}, store.get());
    auto session = f.connect();
    CHECK(send_message(*session, "a@hudedu.net", {"r@x.example"}).eom.action == Action::continue_);

    redis.stop();
    for (int i = 0; i < 3; ++i) {
        FilterAnswer mail;
        auto took = timed([&] { mail = session->on_mail("<b@hudedu.net>", {}, std::nullopt, std::nullopt); });
        CHECK(mail.action == Action::tempfail);
        CHECK(mail.rcode == "451");
        CHECK(mail.xcode == "4.7.1");
        CHECK(took < kBound);
    }
    CHECK(f.logger.count_containing("store unavailable") == 1);

    redis.start();
    CHECK(eventually_accepted(*session, "b@hudedu.net"));
    CHECK(f.logger.count_containing("store recovered") == 1);

    // Hung (SIGSTOP: connections accepted, nothing answered) in the middle
    // of a transaction: end of message tempfails within the bound.
    REQUIRE(session->on_mail("<c@hudedu.net>", {}, std::nullopt, std::nullopt).action == Action::continue_);
    REQUIRE(session->on_rcpt("<r@x.example>", std::nullopt).action == Action::continue_);
    redis.pause();
    FilterAnswer eom;
    auto took = timed([&] { eom = session->on_eom(std::nullopt); });
    FilterAnswer mail;
    auto took_mail = timed([&] { mail = session->on_mail("<c@hudedu.net>", {}, std::nullopt, std::nullopt); });
    redis.resume();
    CHECK(took < kBound);
    CHECK(eom.action == Action::tempfail);
    CHECK(took_mail < kBound);
    CHECK(mail.action == Action::tempfail);
    CHECK(f.logger.count_containing("store unavailable") == 2);
}

TEST_CASE("Redis down with on_store_error=accept: the message passes, uncounted") {
    RedisServer redis;
    auto store = redis_store(redis);
    FilterSettings settings;
    settings.on_store_error = OnStoreError::accept;
    FilterFixture f(kRules, settings, store.get());
    auto session = f.connect();
    redis.stop();
    FilterAnswer mail;
    auto took = timed([&] { mail = session->on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt); });
    CHECK(mail.action == Action::continue_);  // quotas waived for this message; content rules would still run
    CHECK(took < kBound);
    CHECK(f.logger.count_containing("answering accept") == 1);
    CHECK(session->on_rcpt("<r@x.example>", std::nullopt).action == Action::continue_);
    CHECK(session->on_eom(std::string("QID1")).action == Action::continue_);  // not asked again: uncounted
    redis.start();
    // Messages pass uncounted until the store answers again; the first it answers is counted.
    bool recovered = false;
    for (int attempt = 0; attempt < 30 && !recovered; ++attempt) {
        CHECK(send_message(*session, "a@hudedu.net", {"r@x.example"}).eom.action == Action::continue_);
        recovered = f.logger.count_containing("store recovered") == 1;
        if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(recovered);
    auto status = store->counters_of("a@hudedu.net");
    std::uint64_t messages = 0;
    for (const auto& c : status.counters)
        if (c.counter.unit == "messages") messages = c.count;
    CHECK(messages == 1);
}
