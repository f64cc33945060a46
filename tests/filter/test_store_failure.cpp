// A store failure changes only the quota answer (filter/environment.h,
// OnStoreError): content rules and tags still apply, no log line describes an
// action that was not taken, and an impossible store answer is an internal
// error answered per on_store_error, never a silent accept.
#include "session_fixture.h"

#include <doctest/doctest.h>

using namespace quotamilter;
using Action = filter::FilterAnswer::Action;

namespace {

// A sender quota, a header content rule that holds, a tag rule.
const char* kQuotaHoldTag = R"json({"version": 1, "policies": [
  {"name": "hold_invoices", "priority": 10, "match": {"header": [{"name": "Subject", "regex": "(?i)invoice"}]},
   "verdict": "quarantine"},
  {"name": "tag_bulk", "priority": 20, "match": {"header": [{"name": "Precedence", "regex": "bulk"}]}, "verdict": "tag"},
  {"name": "per_sender", "priority": 30, "match": {"sender": ["*"]},
   "quotas": [{"track": "sender", "messages": 5, "window": "1h", "verdict": "reject"}]}]})json";

filter::FilterAnswer send_invoice(filter::Session& session, filter::FilterAnswer* mail = nullptr) {
    filter::FilterAnswer at_mail = session.on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
    if (mail) *mail = at_mail;
    session.on_rcpt("<b@ext.example>", std::nullopt);
    session.on_data(std::string("QID7"));
    session.on_header("Subject", "Invoice 12");
    session.on_header("Precedence", "bulk");
    session.on_eoh();
    return session.on_eom(std::string("QID7"));
}

filter::FilterSettings on_store_error(filter::OnStoreError answer) {
    filter::FilterSettings settings;
    settings.on_store_error = answer;
    return settings;
}

}  // namespace

TEST_CASE("store down, on_store_error accept: the message is held and tagged, uncounted") {
    test::FilterFixture f(kQuotaHoldTag, on_store_error(filter::OnStoreError::accept));
    f.scripted.fail = true;
    auto session = f.connect();
    filter::FilterAnswer mail;
    const filter::FilterAnswer eom = send_invoice(*session, &mail);
    CHECK(mail.action == Action::continue_);  // not accept: the content rules must still run
    CHECK(eom.action == Action::quarantine);
    REQUIRE(eom.add_headers.size() == 1);
    CHECK(eom.add_headers[0].first == "X-Quota-Policy");
    CHECK(f.logger.count_containing("QID7: quarantine: policy=hold_invoices content-rule") == 1);
    CHECK(f.scripted.calls_of("charge") == 0);  // asked once at MAIL, then left alone
}

TEST_CASE("store down, on_store_error tempfail: 451 at MAIL, and no line says the message was held") {
    test::FilterFixture f(kQuotaHoldTag, on_store_error(filter::OnStoreError::tempfail));
    f.scripted.fail = true;
    auto session = f.connect();
    filter::FilterAnswer mail;
    send_invoice(*session, &mail);
    CHECK(mail.action == Action::tempfail);
    CHECK(mail.rcode == "451");
    CHECK(f.logger.count_containing("quarantine:") == 0);
}

TEST_CASE("store fails only at end of message, tempfail: the message is deferred, and not logged as held") {
    test::FilterFixture f(kQuotaHoldTag, on_store_error(filter::OnStoreError::tempfail));
    auto session = f.connect();
    session->on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
    session->on_rcpt("<b@ext.example>", std::nullopt);
    session->on_data(std::string("QID8"));
    session->on_header("Subject", "Invoice 12");
    session->on_eoh();
    f.scripted.fail = true;
    const filter::FilterAnswer eom = session->on_eom(std::string("QID8"));
    CHECK(eom.action == Action::tempfail);
    CHECK(f.logger.count_containing("quarantine:") == 0);
}

TEST_CASE("an impossible store answer is an internal error, answered per on_store_error") {
    SUBCASE("tempfail") {
        test::FilterFixture f(kQuotaHoldTag, on_store_error(filter::OnStoreError::tempfail));
        f.scripted.full = true;
        f.scripted.impossible_index = true;
        auto session = f.connect();
        const filter::FilterAnswer mail = session->on_mail("<a@hudedu.net>", {}, std::nullopt, std::nullopt);
        CHECK(mail.action == Action::tempfail);
        CHECK(mail.rcode == "451");
        CHECK(f.logger.count_containing("impossible answer") == 1);
    }
    SUBCASE("accept: uncounted, content rules still apply") {
        test::FilterFixture f(kQuotaHoldTag, on_store_error(filter::OnStoreError::accept));
        f.scripted.full = true;
        f.scripted.impossible_index = true;
        auto session = f.connect();
        const filter::FilterAnswer eom = send_invoice(*session);
        CHECK(eom.action == Action::quarantine);
        CHECK(f.logger.count_containing("impossible answer") == 1);
    }
}
