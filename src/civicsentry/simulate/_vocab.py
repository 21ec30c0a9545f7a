"""The word pools simulated posts, profiles and links are drawn from.

Everything here is invented. Organic post text is five segments drawn independently
(opener, subject, verb phrase, object, closer), so exact duplicates among organic
posts stay rare (~10^8 English combinations); campaign text comes from templates.
Index 0 of every segment pool is the empty string. A few entries carry quotes, a
newline or a leading ``=`` on purpose: exports must survive hostile text.
"""

from __future__ import annotations


def _split(s: str, strip: bool = True) -> tuple[str, ...]:
    return tuple(x.strip() if strip else x for x in s.split("|"))


EN_OPENERS = (
    "",
    *tuple(
        x + " "
        for x in _split(
            "Honestly,|Ok so|Just saw that|Can't believe|Reminder:|Wow,|Hot take:|Fun fact:|"
            "PSA:|Update:|So apparently|Not gonna lie,|Breaking:|Quick question, why|"
            "Listen,|Unpopular opinion:|Told you,|Every single day|Finally!|Ugh,|Wait,|"
            'Thread:|Heard that|My mom says|"Quote of the day":|Lol|Yikes,|Morning! |'
            "Real talk:|Friendly reminder that|=1+1 lol|Can someone explain why|Good news:|"
            "Still thinking about how|Interesting:|Heads up:|Welp,|Big if true:|Look,"
        )
    ),
)
EN_SUBJECTS = (
    "",
    *_split(
        "the county board|my neighbour|the new poll|the mayor's office|early voting|the debate|"
        "our school district|the bus line|gas prices|the local team|the city council|my landlord|"
        "the weather app|the governor|the state senate|turnout in my precinct|the new stadium|"
        "the library|grocery prices|the traffic on 5th|my cat|the coffee place downtown|"
        "the union|the hospital board|the power company|the sheriff|the farmers market|"
        "my favourite podcast|the campaign office|the water district|the ballot measure|"
        "the new bridge|the fire department|the high school band|the tax office|"
        "the election office|the transit authority|our representative|the parks department|"
        "the weekend forecast|the housing committee|my group chat|the news anchor|"
        "the postal service|the polling station|the zoning board|the bakery on Main|"
        "the city budget|my kid's teacher|the mail-in ballots|the town hall|the airport"
    ),
)
EN_VERBS = (
    "",
    *_split(
        "is trending again because of|just announced changes to|keeps ignoring|finally fixed|"
        "is way better than|wants more money for|cancelled|is talking about|voted against|"
        "voted for|made a mess of|deserves credit for|got it wrong about|is live-streaming|"
        "posted a long update on|is asking questions about|can't stop complaining about|"
        "released the numbers on|delayed|extended|is hiring for|is blaming everyone for|"
        "quietly changed|just doubled|is finally listening about|opened a survey on|"
        "pushed back on|is celebrating|apologised for|wrote an op-ed on|is fundraising for|"
        "is confused about|reported record numbers for|had a meeting about|is protesting|"
        "closed|reopened|is investigating|shared photos of|is proud of"
    ),
)
EN_OBJECTS = (
    "",
    *_split(
        "the polling hours|the weather|downtown traffic|tonight's game|the budget vote|"
        "parking fees|the new curfew|voter registration|the school lunches|the recycling plan|"
        "property taxes|the bike lanes|the late-night buses|the heat wave|the summer festival|"
        "the library hours|the candidate forum|the ballot drop boxes|the snow removal|"
        "the vaccine clinic|the farmers' stalls|the rent increase|the potholes|"
        "the fireworks show|the teachers' contract|the water bill|the early voting sites|"
        "the recount rules|the town's anniversary|the new mural|the charity run|"
        "the internet outage|the flood barriers|the debate schedule|the food bank|"
        "the hiring freeze|the museum tickets|the dog park|the open-mic night|"
        "the ID requirements|the turnout numbers|the volunteer drive|the bus fares"
    ),
)
EN_CLOSERS = (
    "",
    *_split(
        ".|!|?|!!|...| lol.| 😂| 🙏| 👏| 🔥| 🤔| 😡| 👀| ❤️|... thoughts?|. Unreal.|. Just saying.|"
        ". Love this town.|. Again.|. Vote!|. Not surprised.|. Wild.|. Good for them.|"
        ", who knew.|. Sigh.|. Details in comments.|. Share if you agree.",
        strip=False,
    ),
    "\n\nThoughts?",
    '. "Unbelievable."',
)

ES_OPENERS = (
    "",
    *tuple(
        x + " "
        for x in _split(
            "Ojo:|La verdad,|Acabo de ver que|No puedo creer que|Recordatorio:|Vaya,|Ultima hora:|"
            "Dato curioso:|Atención:|Pues resulta que|Buenos días!|Opinión impopular:|Ya lo dije,|"
            "Oigan,|Qué bien,|Increíble,|Por fin,|Ni modo,|Alguien sabe por qué"
        )
    ),
)
ES_SUBJECTS = (
    "",
    *_split(
        "el ayuntamiento|mi vecina|la nueva encuesta|el alcalde|el voto anticipado|el debate|"
        "la escuela|el autobús|el precio de la gasolina|el equipo local|el concejo|la biblioteca|"
        "el gobernador|la casilla|el mercado|la clínica|el sindicato|la radio local|el periódico|"
        "la oficina electoral|mi abuela|el metro|la parroquia|el comité"
    ),
)
ES_VERBS = (
    "",
    *_split(
        "anunció cambios en|sigue ignorando|por fin arregló|pide más dinero para|canceló|"
        "habla otra vez de|votó en contra de|votó a favor de|se equivocó con|publicó datos sobre|"
        "retrasó|amplió|está investigando|celebra|critica|no entiende|reabrió|cerró|apoya|"
        "compartió fotos de|está preocupado por"
    ),
)
ES_OBJECTS = (
    "",
    *_split(
        "el horario de votación|el clima|el tráfico|el partido de hoy|el presupuesto|"
        "las tarifas|el registro de votantes|los impuestos|las ciclovías|la fiesta del barrio|"
        "las boletas|el censo|la renta|los baches|el festival|el agua|las urnas|la feria|"
        "el transporte|las becas|la seguridad|el parque"
    ),
)
ES_CLOSERS = (
    "",
    *_split(".|!|?|...| jaja| 😂| 🙏| 🔥| 🤔| 👀|. Qué opinan?|. Increíble.|. Voten!", strip=False),
)

#: (language code, opener, subject, verb, object, closer) pools, in ``lang`` index order.
LANGS = ("en", "es")
SEGMENTS = (
    (EN_OPENERS, EN_SUBJECTS, EN_VERBS, EN_OBJECTS, EN_CLOSERS),
    (ES_OPENERS, ES_SUBJECTS, ES_VERBS, ES_OBJECTS, ES_CLOSERS),
)

HASHTAGS = _split(
    "Election2024|VoteEarly|Debate|BreakingNews|CityCouncil|SchoolBoard|Weather|Traffic|"
    "MondayMotivation|FridayFeeling|Coffee|NFL|NBA|Music|Movies|Foodie|LocalNews|Vote|"
    "Democracy|Turnout|Budget|PublicTransit|Housing|Taxes|ClimateAction|Healthcare|Jobs|"
    "SmallBusiness|Community|Volunteer|ElectionDay|PollWorkers|MailInVoting|Census|"
    "StateSenate|TownHall|CountyFair|Fireworks|Library|Parks|Teachers|Nurses|Veterans|"
    "Recycling|BikeLanes|FarmersMarket|Podcast|ThrowbackThursday|TBT|Sunset|Gameday|"
    "OpenMic|Festival|FoodBank|Elecciones|Votemos|Noticias|Comunidad|Debate2024|"
    "RegisterToVote|VoterID|CivicDuty|LocalElections|Midterms|Polls|FactCheck|"
    "Transparency|GoodNews|Storm|HeatWave|SnowDay|Marathon|Art|Science|Tech"
)
CAMPAIGN_HASHTAGS = _split(
    "BallotBoxScandal|RiggedRegister|WakeUpVoters|CountyCoverup|TruthAboutTurnout|"
    "SaveOurVote|ExposeTheMachines|NoMoreMailFraud|SilentMajorityRises|FixTheCount|"
    "StolenPrecincts|DeadVotersVote|AuditEveryBallot|PollsAreLying|BoycottTheVote|"
    "ForeignHandsOff|CleanTheRolls|VoteTwiceScam|MediaBlackout|RecountNow"
)

#: Organic link domains with a popularity weight; hosts include subdomains on purpose
#: (registered-domain extraction must cope with them).
DOMAINS = (
    ("www.nytimes.com", 8),
    ("www.washingtonpost.com", 6),
    ("www.bbc.co.uk", 6),
    ("www.reuters.com", 6),
    ("apnews.com", 6),
    ("edition.cnn.com", 5),
    ("www.foxnews.com", 5),
    ("www.youtube.com", 10),
    ("youtu.be", 6),
    ("www.instagram.com", 4),
    ("www.facebook.com", 3),
    ("www.theguardian.com", 5),
    ("amp.theguardian.com", 1),
    ("www.npr.org", 4),
    ("www.nbcnews.com", 3),
    ("www.bloomberg.com", 2),
    ("www.espn.com", 3),
    ("imgur.com", 2),
    ("medium.com", 2),
    ("localbeat.substack.com", 1),
    ("news.yahoo.com", 3),
    ("m.youtube.com", 2),
    ("www.elpais.com", 2),
    ("www.univision.com", 2),
    ("www.politico.com", 3),
    ("thehill.com", 3),
    ("www.axios.com", 2),
    ("www.usatoday.com", 3),
    ("www.latimes.com", 2),
    ("www.tiktok.com", 3),
)
CAMPAIGN_DOMAINS = _split(
    "patriotwirenews.info|truthcountyreport.com|realvoterdaily.net|freedomnowdispatch.com|"
    "civicledgerpost.info|ballotwatchalert.org|heartlandfactsnow.com|thevotesentinel.net|"
    "nationalpulse24.info|openeyesmedia.click"
)
SECTIONS = _split(
    "politics|us|world|local|sports|opinion|business|tech|health|culture|elections|news|video"
)
SLUGS = _split(
    "vote|county|ballot|mayor|budget|storm|school|court|poll|debate|senate|city|tax|fire|"
    "bridge|report|plan|rally|police|water|housing|jobs|game|festival|study|deal|strike|"
    "record|win|loss|crisis|update|review|guide|inside|why|how|new|final|first|last"
)
CAMPAIGN_WORDS = _split("ballots|machines|rolls|precincts|count|audit|dropbox|turnout")

#: Copy-paste campaign templates; ``{place}`` is filled per template.
TEMPLATES = _split(
    "BREAKING: thousands of ballots found behind a warehouse in {place}. Why is nobody "
    "talking about this?|They are changing the rules in {place} two weeks before the vote. "
    "Share before it gets deleted!|Poll workers in {place} were told to ignore signature "
    "checks. Wake up!|The machines in {place} flipped votes in the primary. The media will "
    "never report it.|Dead voters are still on the rolls in {place}. Check your county!|"
    "Do NOT vote by mail in {place}, your ballot will be thrown away.|Foreign observers are "
    "laughing at what happened in {place}. Disgraceful.|My cousin works at the {place} "
    "election office and says the count is already decided.|Why were the drop boxes in "
    "{place} emptied at 3am? Demand answers.|Turnout in {place} was over 100 percent. "
    "Impossible numbers.|The {place} recount was cancelled without explanation. What are "
    "they hiding?|Stay home on election day, the result in {place} is fixed anyway."
)
#: Word swaps a copy-paste operator makes between copies of one template.
SWAPS = (
    ("thousands", "hundreds"),
    ("found", "discovered"),
    ("Why is nobody", "Why is no one"),
    ("Share", "Retweet"),
    ("Wake up!", "WAKE UP!"),
    ("never", "NEVER"),
    ("Check", "Verify"),
    ("Disgraceful.", "Shameful."),
    ("Demand answers.", "We want answers."),
    ("Impossible", "Unreal"),
    ("hiding", "covering up"),
    ("anyway", "already"),
    ("says", "told me"),
    ("What are", "What exactly are"),
)
PLACES = _split(
    "Maple County|Riverton|Lake Harbor|Cedar Falls|Oakdale|Pine Ridge|Fairview|Brookfield|"
    "Clearwater|Millbrook|Westport|Granite City|Silver Springs|Kingsbridge|Red Hollow"
)
EMOJI = _split("🇺🇸|🔥|😂|🙏|👏|💯|😡|🤔|👀|❤️|⚠️|🚨|‼️|📢")

FIRST_NAMES = _split(
    "James|Mary|John|Patricia|Robert|Jennifer|Michael|Linda|William|Elizabeth|David|Barbara|"
    "Richard|Susan|Joseph|Jessica|Thomas|Sarah|Charles|Karen|Chris|Lisa|Daniel|Nancy|Matthew|"
    "Betty|Anthony|Margaret|Mark|Sandra|Donald|Ashley|Steven|Kimberly|Paul|Emily|Andrew|Donna|"
    "Joshua|Michelle|Kenneth|Carol|Kevin|Amanda|Brian|Melissa|George|Deborah|Timothy|Stephanie|"
    "Ronald|Rebecca|Jason|Sharon|Ryan|Laura|Jacob|Cynthia|Gary|Kathleen|Nicholas|Amy|Eric|"
    "Angela|Jonathan|Shirley|Maria|Jose|Carmen|Luis|Ana|Carlos|Sofia|Diego|Lucia|Miguel|Olga|"
    "Dmitri|Aisha|Omar|Mei|Wei|Priya|Raj|Fatima|Kwame|Zoe|Noah|Liam|Emma|Olivia|Ava|Mia"
)
LAST_NAMES = _split(
    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|"
    "Lopez|Gonzalez|Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Perez|Thompson|"
    "White|Harris|Sanchez|Clark|Ramirez|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|"
    "Torres|Nguyen|Hill|Flores|Green|Adams|Nelson|Baker|Hall|Rivera|Campbell|Mitchell|Carter|"
    "Roberts|Gomez|Phillips|Evans|Turner|Diaz|Parker|Cruz|Edwards|Collins|Reyes|Stewart|Morris|"
    "Murphy|Cook|Rogers|Morgan|Peterson|Cooper|Reed|Bailey|Bell|Kim|Patel|Shah|Ivanova|Okafor"
)
HANDLE_WORDS = _split(
    "sunny|blue|river|coffee|night|wolf|pixel|happy|lucky|urban|quiet|wild|golden|rebel|cosmic|"
    "lazy|silver|brave|retro|ocean|storm|maple|cedar|fox|owl|bear|tiger|lemon|mango|jazz|"
    "vinyl|runner|chef|coder|nerd|mama|papa|fan|dreamer|reader|hiker|gamer|patriot|truth|eagle"
)
BIO_PARTS = _split(
    "Teacher|Nurse|Dad of 3|Mom of 2|Software engineer|Coffee lover|Runner|Foodie|"
    "Photographer|Student|Retired vet|Small business owner|Dog person|Cat person|Gardener|"
    "Lifelong Cubs fan|Musician|Nurse practitioner|Union member|Volunteer firefighter|"
    "Librarian|Grad student|Bookworm|Gamer|Traveller|Views my own|He/him|She/her|They/them|"
    "Local news junkie|Amateur chef|Cyclist|Pastor|Engineer|Designer|Writer|Sci-fi nerd"
)
CAMPAIGN_BIOS = _split(
    "Patriot 🇺🇸|God, family, country|Truth seeker. No DMs|Proud American|Mom. Patriot. "
    "Truth.|Just asking questions|Follow for the truth 🇺🇸|Freedom first|Voter. Citizen. "
    "Watching.|Ex-military 🇺🇸 #SaveOurVote|Wake up America"
)
LOCATIONS = _split(
    "Austin, TX|Columbus, OH|Phoenix, AZ|Atlanta, GA|Detroit, MI|Philadelphia, PA|Denver, CO|"
    "Raleigh, NC|Milwaukee, WI|Las Vegas, NV|Miami, FL|Seattle, WA|Chicago, IL|Boston, MA|"
    "Portland, OR|Houston, TX|Nashville, TN|Tampa, FL|Richmond, VA|Omaha, NE|Brooklyn, NY|"
    "Los Angeles, CA|San Diego, CA|Minneapolis, MN|USA|United States|Earth 🌍|Texas|Ohio"
)
FOREIGN_LOCATIONS = _split("London|Madrid|Mexico City|Toronto|Berlin|Moscow|Istanbul|Paris")
