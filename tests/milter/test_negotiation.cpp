// What quotamilter asks of the MTA at negotiate.
#include "milter/negotiation.h"

#include <libmilter/mfapi.h>

#include <doctest/doctest.h>

using namespace quotamilter::milter;

namespace {

// What Postfix 3.7 offers (all actions, every SMFIP_NO* and NR_* step).
constexpr std::uint64_t kAllActions = SMFIF_ADDHDRS | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT |
                                      SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR |
                                      SMFIF_SETSYMLIST;
constexpr std::uint64_t kAllSteps =
    SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH |
    SMFIP_NR_HDR | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_SKIP | SMFIP_RCPT_REJ | SMFIP_NR_CONN | SMFIP_NR_HELO |
    SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_HDR_LEADSPC;
constexpr std::uint64_t kNoReplyFlags = SMFIP_NR_HDR | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL |
                                        SMFIP_NR_RCPT | SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY;

}  // namespace

TEST_CASE("without byte quotas: no body, no headers; DATA, MAIL, RCPT, CONNECT always") {
    Negotiation n = negotiate(kAllActions, kAllSteps, false, false);
    CHECK((n.steps & SMFIP_NOBODY) != 0);
    CHECK((n.steps & SMFIP_NOHDRS) != 0);
    CHECK((n.steps & SMFIP_NOEOH) != 0);
    CHECK((n.steps & SMFIP_NODATA) == 0);
    CHECK((n.steps & SMFIP_NOMAIL) == 0);
    CHECK((n.steps & SMFIP_NORCPT) == 0);
    CHECK((n.steps & SMFIP_NOCONNECT) == 0);
    CHECK((n.steps & kNoReplyFlags) == 0);
    CHECK_FALSE(n.body);
}

TEST_CASE("with byte quotas: body and headers (their bytes count), DATA still") {
    Negotiation n = negotiate(kAllActions, kAllSteps, true, false);
    CHECK((n.steps & SMFIP_NOBODY) == 0);
    CHECK((n.steps & SMFIP_NOHDRS) == 0);
    CHECK((n.steps & SMFIP_NODATA) == 0);
    // Headers and body only add up bytes: "no reply" to them (test_no_reply.cpp).
    CHECK((n.steps & kNoReplyFlags) == (SMFIP_NR_HDR | SMFIP_NR_BODY));
    CHECK(n.body);
}

TEST_CASE("header rules ask for headers but not the body") {
    Negotiation n = negotiate(kAllActions, kAllSteps, false, true);
    CHECK((n.steps & SMFIP_NOBODY) != 0);
    CHECK((n.steps & SMFIP_NOHDRS) == 0);
}

TEST_CASE("never asks for what the MTA does not offer") {
    Negotiation n = negotiate(SMFIF_ADDHDRS, SMFIP_NOHELO, false, true, true);
    CHECK(n.actions == SMFIF_ADDHDRS);
    CHECK(n.steps == SMFIP_NOHELO);
    CHECK_FALSE(n.set_macro_lists);
    // An MTA that cannot skip the body sends it: the session must know.
    CHECK(n.body);

    Negotiation full = negotiate(kAllActions, kAllSteps, false, false);
    CHECK((full.actions & SMFIF_QUARANTINE) != 0);
    CHECK((full.actions & SMFIF_SETSYMLIST) != 0);
    CHECK((full.actions & (SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGFROM)) == 0);
    CHECK(full.set_macro_lists);
}

TEST_CASE("macro lists name what the core reads") {
    CHECK(std::string(kMailMacros) == "{auth_authen} {mail_addr} i");
    CHECK(std::string(kRcptMacros) == "{rcpt_addr} i");
    CHECK(std::string(kEomMacros) == "i");
}
