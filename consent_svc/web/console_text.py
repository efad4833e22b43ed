"""The console's words in Swedish (the templates are written in English, the key of each text).

``translate`` answers the Swedish text when there is one and the English otherwise;
tests/http/test_console.py checks that every text the templates name has its Swedish.
"""

from __future__ import annotations

from typing import Any, Literal

Lang = Literal["sv", "en"]

SWEDISH: dict[str, str] = {
    # Layout, roles and identifier types.
    "Console": "Konsol",
    "Skip to content": "Hoppa till innehållet",
    "Table": "Tabell",
    "Sign out": "Logga ut",
    "Dashboard": "Översikt",
    "People": "Personer",
    "Person": "Person",
    "Users": "Användare",
    "Audit log": "Händelselogg",
    "admin": "administratör",
    "officer": "dataskyddsansvarig",
    "marketer": "marknadsförare",
    "viewer": "läsare",
    "email": "e-post",
    "phone": "telefon",
    "external_id": "externt id",
    "consumer": "konsument",
    "business": "företag",
    # Sign-in and set-up.
    "Sign in to the console": "Logga in i konsolen",
    "The sign-in details are not right.": "Inloggningsuppgifterna stämmer inte.",
    "Organisation (tenant)": "Organisation (tenant)",
    "Email": "E-post",
    "Password": "Lösenord",
    "Code from your authenticator app (if you use one)": "Kod från din autentiseringsapp (om du använder en)",
    "Sign in": "Logga in",
    "Choose your password": "Välj ditt lösenord",
    "Console account for {email} ({role}).": "Konsolkonto för {email} ({role}).",
    "Password (at least 12 characters)": "Lösenord (minst 12 tecken)",
    "The same password again": "Samma lösenord igen",
    "Second factor (optional)": "Andra faktor (frivillig)",
    "Add this key to an authenticator app, then type the code it shows.": (
        "Lägg in den här nyckeln i en autentiseringsapp och skriv sedan koden den visar."
    ),
    "Use a second factor": "Använd en andra faktor",
    "Code": "Kod",
    "Save": "Spara",
    "Signed in as {email}.": "Inloggad som {email}.",
    # Errors.
    "Not allowed": "Inte tillåtet",
    "That did not work": "Det gick inte",
    "Back to the console": "Tillbaka till konsolen",
    "The form had expired or did not come from this console. Go back, reload the page and try again.": (
        "Formuläret hade gått ut eller kom inte från den här konsolen. Gå tillbaka, ladda om sidan och försök igen."
    ),
    "Your role does not give access to this page. Ask an administrator if you need it.": (
        "Din roll ger inte tillgång till den här sidan. Fråga en administratör om du behöver den."
    ),
    # People.
    "Search by": "Sök på",
    "Phone": "Telefon",
    "External id": "Externt id",
    "Identifier": "Identifierare",
    "Search": "Sök",
    "Nobody with that identifier is recorded.": "Ingen med den identifieraren finns registrerad.",
    "The identifiers are rectified.": "Identifierarna är rättade.",
    "Processing is restricted.": "Behandlingen är begränsad.",
    "The restriction is lifted.": "Begränsningen är hävd.",
    "Kind": "Typ",
    "Id": "Id",
    "Restriction": "Begränsning",
    "active": "aktiv",
    "none": "ingen",
    "Decision now": "Beslut just nu",
    "May we contact this person, per purpose and channel": "Får vi kontakta personen, per ändamål och kanal",
    "Purpose": "Ändamål",
    "Channel": "Kanal",
    "Allowed": "Tillåtet",
    "Reason": "Skäl",
    "Rule": "Regel",
    "Legal reference": "Rättslig grund",
    "Expires": "Upphör",
    "yes": "ja",
    "no": "nej",
    "No purposes yet.": "Inga ändamål än.",
    "Actions": "Åtgärder",
    "Export (JSON)": "Exportera (JSON)",
    "Rectify": "Rätta",
    "New email": "Ny e-postadress",
    "New phone": "Nytt telefonnummer",
    "New external id": "Nytt externt id",
    "Restriction of processing (Art 18)": "Begränsning av behandling (art. 18)",
    "Note": "Anteckning",
    "Lift the restriction": "Häv begränsningen",
    "Restrict processing": "Begränsa behandlingen",
    "Erase (Art 17)": "Radera (art. 17)",
    "Erasure cannot be undone. A suppression entry stays so the person is never contacted again.": (
        "Radering kan inte ångras. En spärr finns kvar så att personen aldrig kontaktas igen."
    ),
    "Type the person's email, phone or external id to confirm": (
        "Skriv personens e-postadress, telefonnummer eller externa id för att bekräfta"
    ),
    "Erase this person": "Radera personen",
    "Timeline": "Tidslinje",
    "source": "källa",
    "Proof": "Bevis",
    "Suppression": "Spärr",
    "lifted": "hävd",
    "Banner receipt": "Kvitto från cookiebannern",
    "Webhook message": "Webhook-meddelande",
    "Sign-up": "Anmälan",
    "Nothing recorded.": "Inget registrerat.",
    "Erased": "Raderad",
    "The person is erased": "Personen är raderad",
    "Keep this receipt: it is what the erasure did.": "Spara kvittot: det visar vad raderingen gjorde.",
    "Erasure id": "Raderings-id",
    "Erased at": "Raderad",
    "Identifiers removed": "Borttagna identifierare",
    "Events erased": "Raderade händelser",
    "Banner receipts removed": "Borttagna bannerkvitton",
    "Webhook messages removed": "Borttagna webhook-meddelanden",
    "Suppression entries kept": "Kvarvarande spärrar",
    "Back to people": "Tillbaka till personer",
    # Users and audit.
    "Created {email}. Send them this set-up link; it works once, for 72 hours:": (
        "{email} är skapad. Skicka den här länken för att komma igång; den fungerar en gång, i 72 timmar:"
    ),
    "Console users": "Konsolens användare",
    "Role": "Roll",
    "Second factor": "Andra faktor",
    "State": "Status",
    "Change": "Ändra",
    "disabled": "avstängd",
    "waiting for set-up": "väntar på att komma igång",
    "Role of {email}": "Roll för {email}",
    "Set role": "Sätt roll",
    "Disable": "Stäng av",
    "New user": "Ny användare",
    "Create user": "Skapa användare",
    "Every console action, newest first": "Varje åtgärd i konsolen, nyaste först",
    "When": "När",
    "Who": "Vem",
    "Action": "Åtgärd",
    "Target": "Mål",
    "Detail": "Detaljer",
    "Older": "Äldre",
    # The dashboard.
    "The last 12 weeks, from {since}.": "De senaste 12 veckorna, från {since}.",
    "Status": "Läge",
    "Pending confirmations": "Väntande bekräftelser",
    "Webhook backlog": "Webhook-kö",
    "{n} waiting": "{n} väntar",
    "oldest from {at}": "äldsta från {at}",
    "{n} dead-lettered": "{n} gav upp",
    "Ledger": "Liggaren",
    "{n} events sealed": "{n} händelser förseglade",
    "last {at}": "senast {at}",
    "{n} waiting to be sealed": "{n} väntar på försegling",
    "Verified: the hash chain of {n} events is intact.": "Kontrollerad: hashkedjan med {n} händelser är hel.",
    "Verification failed at position {n}.": "Kontrollen misslyckades vid position {n}.",
    "Verify the ledger now": "Kontrollera liggaren nu",
    "Consents, withdrawals, objections and unsubscribes": "Samtycken, återkallelser, invändningar och avregistreringar",
    "No events in these weeks.": "Inga händelser de här veckorna.",
    "Bar chart of purpose {purpose} per week; the numbers are in the table below.": (
        "Stapeldiagram för ändamålet {purpose} per vecka; siffrorna finns i tabellen nedanför."
    ),
    "Purpose {purpose}, per week": "Ändamålet {purpose}, per vecka",
    "Week of": "Veckan från",
    "Consents given": "Givna samtycken",
    "Consents withdrawn": "Återkallade samtycken",
    "Objections": "Invändningar",
    "Unsubscribes": "Avregistreringar",
    "No data": "Inga uppgifter",
    "Suppression entries by reason": "Spärrar per skäl",
    "Bar chart of active suppression entries by reason; the numbers are in the table below.": (
        "Stapeldiagram över aktiva spärrar per skäl; siffrorna finns i tabellen nedanför."
    ),
    "Active suppression entries": "Aktiva spärrar",
    "Entries": "Antal",
    "None": "Inga",
    "unsubscribe": "avregistrering",
    "objection": "invändning",
    "complaint": "klagomål",
    "hard_bounce": "studs",
    "erasure": "radering",
    "register": "spärregister",
    "manual": "manuell",
    "Banner choices per site": "Val i cookiebannern per webbplats",
    "Stacked bar chart of banner choices per site; the numbers are in the table below.": (
        "Staplat diagram över val i cookiebannern per webbplats; siffrorna finns i tabellen nedanför."
    ),
    "Banner choices in the last 12 weeks": "Val i cookiebannern de senaste 12 veckorna",
    "Site": "Webbplats",
    "Accept all": "Godkänn alla",
    "Reject all": "Neka alla",
    "Custom choice": "Egna val",
    "Dismissed": "Stängd",
    "With GPC": "Med GPC",
    # Import.
    "Import": "Importera",
    "Bring in a subscriber list exported from Mailchimp, Brevo or any CSV. Try it first (a dry run changes nothing), "
    "then record it. Every event keeps where it came from: the format, the file's SHA-256 and the row; the same file "
    "again writes nothing twice.": (
        "Ta in en prenumerantlista exporterad från Mailchimp, Brevo eller någon annan CSV. Prova först (en "
        "provkörning ändrar inget), registrera den sedan. Varje händelse behåller var den kom ifrån: formatet, "
        "filens SHA-256 och raden; samma fil igen skriver inget två gånger."
    ),
    "CSV file (UTF-8)": "CSV-fil (UTF-8)",
    "Exported from": "Exporterad från",
    "Another system (CSV)": "Annat system (CSV)",
    "Purpose the list subscribed to": "Ändamålet listan prenumererade på",
    "Notice version the subscribers saw": "Informationsversionen prenumeranterna såg",
    "Dry run": "Provkör",
    "Record": "Registrera",
    "Dry run: nothing was recorded": "Provkörning: inget registrerades",
    "Recorded": "Registrerat",
    "File SHA-256": "Filens SHA-256",
    "New events": "Nya händelser",
    "Events recorded before": "Händelser registrerade tidigare",
    "New suppression entries": "Nya spärrar",
    "Suppression entries there before": "Spärrar som fanns sedan tidigare",
    "Rows skipped": "Överhoppade rader",
    "Columns read": "Lästa kolumner",
    "Meaning": "Betydelse",
    "Column": "Kolumn",
    "opt-in time": "tid för samtycke",
    "ip": "ip",
    "status": "status",
    "unsubscribed at": "avregistrerad",
    "cleaned at": "rensad",
    "blacklisted": "svartlistad",
    "The first rows": "De första raderna",
    "The first rows and what they become": "De första raderna och vad de blir",
    "Row": "Rad",
    "Becomes": "Blir",
    "consent": "samtycke",
    "bounce": "studs",
    "Skipped rows": "Överhoppade rader",
    "Why": "Varför",
    # List washing.
    "List washing": "Tvätta listor",
    "Upload a CSV of recipients. Each row gets allowed, reason, rule and expires_at for the purpose and channel you "
    "choose; the file is read and answered a piece at a time, so lists of any length work.": (
        "Ladda upp en CSV med mottagare. Varje rad får allowed, reason, rule och expires_at för det ändamål och den "
        "kanal du väljer; filen läses och besvaras en bit i taget, så listor av alla längder fungerar."
    ),
    "CSV file (comma or semicolon, UTF-8, with a header row)": "CSV-fil (komma eller semikolon, UTF-8, med rubrikrad)",
    "Column with the identifier": "Kolumnen med identifieraren",
    "The column holds": "Kolumnen innehåller",
    "Wash the list": "Tvätta listan",
    "Progress": "Förlopp",
    "Result": "Resultat",
    "Download the washed CSV": "Ladda ner den tvättade CSV-filen",
    "Rows per reason": "Rader per skäl",
    "Rows": "Rader",
    "{n} columns found. Pick the one with the identifier.": "{n} kolumner hittades. Välj den med identifieraren.",
    "Choose a CSV file first.": "Välj en CSV-fil först.",
    "{rows} rows washed ({percent} %)": "{rows} rader tvättade ({percent} %)",
    "Washing stopped:": "Tvätten avbröts:",
    "Done: {rows} rows, {allowed} allowed, in {seconds} s.": "Klart: {rows} rader, {allowed} tillåtna, på {seconds} s.",
}


def translate(lang: str, text: str, **values: Any) -> str:
    chosen = SWEDISH.get(text, text) if lang == "sv" else text
    return chosen.format(**values) if values else chosen
