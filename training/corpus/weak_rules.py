"""The lexical rules behind the weak rare-event labels: one table of cues per type.

How they are applied, and why they favour precision, is in weak_labels.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from serving.schema import EventType


@dataclass(frozen=True)
class Cue:
    pattern: str
    why: str


@dataclass(frozen=True)
class TypeRules:
    fire: tuple[Cue, ...]
    mask: tuple[Cue, ...] = ()
    veto: tuple[Cue, ...] = ()


# Shared word lists, spelled out once so the cues stay readable. Every pattern is written in
# lower case: it is matched against the lower-cased sentence (as fast as case-sensitive
# matching, twice as fast as re.IGNORECASE).
_AIRCRAFT = (
    r"(war ?planes?|fighter[\s-](jets?|planes?|bombers?)|jets|b-52s?|gunships?|drones?|uavs?"
    r"|(military|coalition|enemy|air force|government|army) (aircraft|planes?|helicopters?))"
)
_ANY_AIRCRAFT = rf"({_AIRCRAFT}|aircraft|helicopters?|planes?|choppers?)"
_PROJECTILE = (
    r"(rockets?|missiles?|mortars?|mortar (shells|rounds|bombs)|shells|artillery( rounds| shells)?"
    r"|projectiles?|katyushas?)"
)
_PLACE = (
    r"(towns?|city|cities|villages?|districts?|provinces?|regions?|territor(y|ies)"
    r"|(military|army|air|naval|police|rebel|government|airforce) bases?|airbases?|airports?"
    r"|airfields?|border (posts?|crossings?)|capital|strongholds?"
    r"|hill(top)?s?|outposts?|ports?|neighbou?rhoods?|suburbs?|garrisons?|checkpoints?"
    r"|bridges?|valley|oil ?fields?|dams?|zones?|enclaves?|highways?|supply (lines?|routes?)"
    r"|refiner(y|ies)|junctions?)"
)
_ARMED = (
    r"(troops|soldiers|army|armed forces|security forces|forces|militants?|rebels?|insurgents?"
    r"|guerrillas?|fighters|militia(s|men)?|police(men)?|paramilitar(y|ies)|gunmen|maoists"
    r"|naxal(ite)?s|taliban|jihadists|separatists|commandos|marines|gangs?|cartels?"
    r"|fmln|army units?|government forces)"
)
_WEAPON = (
    r"(weapons?|arms|ammunition|ammo|munitions?|explosives?|rifles?|guns?|handguns?|pistols?"
    r"|revolvers?|grenades?|detonators?|firearms?|ak-?47s?|kalashnikovs?|carbines?|shotguns?"
    r"|cartridges|bullets|rocket[\s-]launchers?|rocket-propelled grenades?|rpgs?|mortars?"
    r"|landmines?|ieds?|gelatin(e)? sticks|(crude|country-?made|live|hand) bombs?"
    r"|bomb-making (material|equipment)s?)"
)
# Up to n words that stay in the clause (no punctuation, no clause-opening word), so
# "recovered the body of the man who was shot with a pistol" is no weapons seizure.
_STOP = r"(who|which|that|after|when|while|because|but|before|since|where|as)"


def _gap(n: int) -> str:
    return rf"(?:(?!{_STOP}\b)[^\s.;:!?,()]+\s+){{0,{n}}}?"


# Up to three words, none a preposition: "captured militants in the area" captured no area,
# "seized 137 kilos of base" no military base.
_NOUN_GAP = (
    r"(?:(?!(in|at|near|from|on|of|inside|outside|around|across|to|during|with|and)\b)"
    r"[\w'-]+\s+){0,3}?"
)
_GROUP = (
    r"(rebels?|militants?|insurgents?|guerrillas?|jihadists?|islamists?|taliban|troops|army"
    r"|forces|fighters|militias?|separatists?|paramilitar(y|ies)|al-shabaab|islamic state|isis"
    r"|isil|daesh|government|junta)"
)
_DET = r"(the |a |an |its |their |\d+ |dozens of |several |many |two |three |four |five )"

SHARED_VETO: tuple[Cue, ...] = (
    Cue(
        r"\b(threat(en(s|ed|ing)?)?|warn(s|ed|ing)? (of|that|about|against)|vow(s|ed|ing)? to"
        r"|plan(s|ned|ning)? (to|for)|call(s|ed|ing)? for|rul(e|es|ed|ing) out|debat(e|es|ed|ing)"
        r"|vot(e|es|ed|ing) (on|to|for|against)|consider(s|ed|ing)?|authori[sz](e|es|ed|ing|ation)"
        r"|propos(e|es|ed|al)|would|could|might|should|if|will|can|cannot|scheduled"
        r"|refrain(s|ed|ing)?|no (point|reason)|next (week|month|year|monday|tuesday|wednesday"
        r"|thursday|friday|saturday|sunday))\b",
        "threats, plans, calls, debates, the future and conditionals: no event that happened",
    ),
    Cue(
        r"\b(fabricat\w*|hoax(es)?|no such|false|den(y|ies|ied) that)\b",
        "denied or invented events",
    ),
    Cue(
        r"\b(cancel(l?(ed|ing))?|postpon\w*|call(ed)? off|decided to|decision to)\b",
        "events decided on, called off or put off",
    ),
)

_RULES: dict[EventType, TypeRules] = {
    EventType.AIRSTRIKE: TypeRules(
        fire=(
            Cue(r"\bair[\s-]?strikes?\b", "the event's name: air strike, airstrike, air-strike"),
            Cue(r"\bair[\s-]?raids?\b", "air raid(s)"),
            Cue(r"\b(drone|uav)[\s-](strikes?|attacks?)\b", "drone strikes and attacks"),
            Cue(
                r"\b(aerial|air) (bombardments?|bombings?|attacks?|assaults?|campaign)\b",
                "attacks named as aerial",
            ),
            Cue(
                rf"\b{_AIRCRAFT}\s+(\w+\s+){{0,3}}?(bomb(ed|s|ing)|strafed|strafing|struck|pounded"
                r"|hit|targeted|attacked|fired (missiles|rockets))\b",
                "military aircraft as the subject of an attack verb ('bombers' left out: "
                "suicide bombers)",
            ),
            Cue(
                rf"\b{_ANY_AIRCRAFT}\s+(\w+\s+){{0,3}}?(bombed|bombing|strafed|strafing"
                r"|machine-?gunned|fired (missiles|rockets) (at|on|into))\b",
                "any aircraft bombing or strafing (MUC-4: 'a-37 planes strafed')",
            ),
            Cue(
                rf"\b{_AIRCRAFT}\s+(\w+\s+){{0,3}}?(carried out|launched|conducted|flew) (\w+ )"
                rf"{{0,2}}?(strikes|raids|sorties|bombing runs)\b|\b{_ANY_AIRCRAFT}\s+(\w+\s+)"
                r"{0,3}?dropped (\w+ ){0,3}?(bombs?|explosives|barrels|munitions)\b",
                "aircraft carrying out strikes or dropping bombs",
            ),
            Cue(
                r"\bair force\s+(\w+\s+){0,2}?(bombed|bombing|bombardments?|strafed|strafing"
                r"|raids?)\b",
                "the air force bombing (MUC-4's Salvadoran air force)",
            ),
            Cue(r"\b(bombed|strafed|attacked) from the air\b", "attacks from the air"),
        ),
        mask=(
            Cue(
                r"\bair[\s-]?raid (sirens?|shelters?|warnings?|alarms?|drills?)\b",
                "a siren or shelter is no strike",
            ),
        ),
        veto=(Cue(r"\bno-fly zones?\b", "no-fly zone debates"),),
    ),
    EventType.SHELLING_MISSILE: TypeRules(
        fire=(
            Cue(r"\bshell(ed|ing)\b", "shelled, shelling (false friends masked)"),
            Cue(r"\bbombard(ed|ing|ment|ments)\b", "bombardment (aerial ones masked)"),
            Cue(
                r"\b(artillery|mortar|rocket|missile|howitzer|tank|katyusha|grad)\s+(fire|attacks?"
                r"|strikes?|barrages?|salvos?|bombardments?)\b",
                "artillery fire, rocket attack, missile strike (not 'mortar shells': an object, "
                "listed in seizures too)",
            ),
            Cue(
                rf"\b(fired|firing|fires|launched|launching|lobbed|lobbing)\s+(\w+\s+){{0,3}}?"
                rf"{_PROJECTILE}\b",
                "firing rockets, missiles, mortars or shells",
            ),
            Cue(
                rf"\b({_PROJECTILE}|(a|another|one) shell)\s+(\w+\s+){{0,2}}?(hit|hits|struck"
                r"|strikes|slammed|landed|lands|fell|rained|crashed)\b",
                "projectiles hitting or landing somewhere ('a shell', never 'the Shell')",
            ),
            Cue(
                r"\b(artillery|howitzers?|tanks|mortars|rocket launchers|batteries|gunboats"
                r"|warships)\s+(\w+\s+){0,2}?(pounded|shelled|fired (on|at|into)|hit|struck"
                r"|targeted|bombarded)\b",
                "guns as the subject of an attack verb",
            ),
        ),
        mask=(
            Cue(r"\bshell(ed|ing|s)? out\b|\bshelling range\b", "shelling out money; in range"),
            Cue(r"\btear[\s-]?gas (shells?|canisters?)\b", "tear gas shells are crowd control"),
            Cue(
                r"\bshell (compan(y|ies)|corporations?|firms?|accounts?|oil|plc|petroleum"
                r"|game|casings?|shock\w*)\b",
                "shell companies, Shell the oil firm, shell casings (spent cartridges)",
            ),
            Cue(r"\b(aerial|air) bombardments?\b", "aerial bombardment is an AIRSTRIKE"),
            Cue(
                r"\brocket[\s-]propelled grenades?\b|\brpgs?\b",
                "RPGs are infantry weapons, not artillery",
            ),
            Cue(
                r"\bbombard\w* (with|by) (questions|criticism|calls|messages|requests|complaints"
                r"|e-?mails|propaganda|leaflets)\b",
                "figurative bombardment",
            ),
            Cue(
                rf"\b{_ANY_AIRCRAFT}\b[^.;]{{0,40}}?\b(missiles?|rockets?)\b|\b(missiles?|rockets?)"
                rf"\b[^.;]{{0,40}}?\b(from|by) (\w+ ){{0,3}}?{_ANY_AIRCRAFT}\b",
                "missiles fired from aircraft or drones are AIRSTRIKE",
            ),
        ),
        veto=(
            Cue(
                r"\b(missile|rocket)s? (tests?|test-fir\w*|launch (pads?|sites?)|defen[cs]es?"
                r"|programmes?|programs?|shield|systems?|technology|treaty|treaties)\b"
                r"|\btest[\s-]?fir\w*|\binto the sea\b|\bballistic\b|\bnuclear\b",
                "missile tests and programmes are no attack",
            ),
            Cue(
                rf"^(?!.*\b(artillery|mortars?|shell(s|ed|ing)|howitzers?|tanks?|ground)\b).*\b"
                rf"{_ANY_AIRCRAFT}\b",
                "rockets and missiles in a sentence about aircraft (and no guns) are theirs",
            ),
        ),
    ),
    EventType.CHEMICAL_ATTACK: TypeRules(
        fire=(
            Cue(
                r"\bchemical[\s-](weapons?[\s-])?(attacks?|strikes?)\b",
                "chemical (weapons) attacks",
            ),
            Cue(
                r"\b(us(e|es|ed|ing)|fired|dropped|launched|deployed)\b[^.;]{0,60}?\bchemical "
                r"(weapons?|munitions|bombs?|shells?|rockets?|agents?|gas)\b|\bchemical "
                r"(weapons?|munitions|bombs?|shells?|rockets?|agents?|gas)\b[^.;]{0,40}?\b(were"
                r"|was|been) used\b",
                "chemical weapons used (owning, making or destroying them is no attack)",
            ),
            Cue(
                r"\b(sarin|tabun|soman|vx|mustard gas|nerve (gas|agents?)|novichok|phosgene)\b",
                "agents used only as weapons",
            ),
            Cue(
                r"\b(chlorine|poison(ous)?|toxic) gas (attacks?|shells?|bombs?|barrels?"
                r"|canisters?|rockets?)\b|\bchlorine (bombs?|barrels?|attacks?|canisters?)\b"
                r"|\b(us(e|es|ed|ing)|fired|dropped)\s+(\w+\s+){0,2}?(poison(ous)?|chlorine) gas\b",
                "chlorine or poison gas delivered as a weapon",
            ),
            Cue(r"\bgas(sed)? attacks?\b|\bgassed\b", "gas attacks (tear gas masked)"),
            Cue(
                r"\b(chlorine|poison(ous)? gas|toxic gas|chemicals?)\b[^.;]{0,30}?\bas (a )?"
                r"weapons?\b|\bexposure to (a |the )?(chemical|nerve|toxic) (agents?|weapons?)\b",
                "chemicals used as a weapon; victims exposed to a chemical agent",
            ),
        ),
        mask=(Cue(r"\btear[\s-]?gas(sed|sing)?\b", "tear gas is crowd control (REPRESSION)"),),
        veto=(
            Cue(
                r"\b(conventions?|stockpiles?|destr(oy|oyed|uction)|dismantl\w*|disarm\w*"
                r"|inspect\w*|treaty|programmes?|programs?|prohibition|arsenals?|leak\w*"
                r"|sewers?|manholes?|septic|mak(e|es|ing)|made|produc\w*|manufactur\w*"
                r"|build(ing)?|construct\w*|develop\w*|possess\w*|acquir\w*|capab\w*|carry"
                r"|training)\b",
                "disarmament talk, having or making the weapons, industrial or sewer gas",
            ),
        ),
    ),
    EventType.SEXUAL_VIOLENCE: TypeRules(
        fire=(
            Cue(r"\b(gang[\s-]?)?rap(e|es|ed|ing|ist|ists)\b", "rape in any inflection"),
            Cue(
                r"\bsexual(ly)?[\s-](assault(s|ed|ing)?|abuse[sd]?|abusing|violence|slavery"
                r"|attacks?)\b",
                "sexual assault, abuse, violence, slavery (harassment left out: too broad)",
            ),
            Cue(r"\bmolest(ed|ing|ation|s)?\b", "molestation"),
            Cue(
                r"\boutrag(ed|ing) (the |her )?modesty\b",
                "the Indian legal phrase for sexual assault",
            ),
            Cue(r"\bsex(ual)? slaves?\b", "sex slaves"),
        ),
        mask=(
            Cue(
                r"\b(anti-?rape|rape (laws?|bill|legislation|crisis|kits?))\b",
                "laws and services, not events",
            ),
        ),
        veto=(
            Cue(
                r"\b(campaign|awareness|conference|summit|legislation|laws?|polic(y|ies)|bill"
                r"|initiative|workshop|training)\b",
                "advocacy and policy sentences",
            ),
            Cue(
                r"\b(per ?cent|percentage|statistics?|survey|rates?|such as|number of|crimes like"
                r"|epidemic|risk\w*|common|punishable)\b",
                "crime statistics and lists of crime kinds name no event",
            ),
        ),
    ),
    EventType.PROTEST: TypeRules(
        fire=(
            Cue(r"\bprotest(e|o)rs?\b", "protesters: people on the street"),
            Cue(r"\bdemonstrators?\b", "demonstrators"),
            Cue(
                r"\b(staged?|staging|held|hold(s|ing)?|organi[sz](ed|ing)|launched|joined"
                r"|took part in|participated in|led|observed)\s+(a|an)\s+(\w+[\s-]){0,3}?"
                r"(protest|demonstration|sit-?in|dharna|rally|protest march|hunger strike"
                r"|walk-?out|blockade|gherao|strike)\b",
                "holding a protest, rally, sit-in, blockade or strike (singular: needs a/an)",
            ),
            Cue(
                r"\b(staged?|staging|held|hold(s|ing)?|organi[sz](ed|ing)|launched|joined"
                r"|took part in|participated in|led)\s+(the\s+)?(\w+[\s-]){0,3}?"
                r"(protests|demonstrations|sit-?ins|dharnas|rallies|marches|hunger strikes"
                r"|walk-?outs|blockades|gheraos)\b",
                "holding protests (plural)",
            ),
            Cue(r"\btook to the streets?\b", "took to the streets"),
            Cue(
                r"\b(mass|street|anti-\w+|student|opposition|peaceful|violent|nationwide"
                r"|pro-\w+|angry)\s+(protests?|demonstrations?|rall(y|ies)|agitations?)\b",
                "qualified protests: anti-government protests, mass demonstrations",
            ),
            Cue(
                r"\b(blocked|blockaded|occupied|marched|rallied|gathered|assembled|dumped"
                r"|gheraoed|picketed)\b[^.;]{0,80}?\b(to protest|in protest|protesting|to demand"
                r"|demanding|to denounce|denouncing)\b",
                "gathering, blocking or marching with a stated protest purpose",
            ),
            Cue(
                r"\b(sit-?ins?|dharnas?|hunger strikes?|gherao(s|ed|ing)?|rasta roko|chakka jam"
                r"|road blockades?)\b",
                "sit-ins, hunger strikes and the Indian dharna, gherao, rasta roko",
            ),
            Cue(
                r"\bprotest (march(es)?|rall(y|ies)|demonstrations?|camps?)\b|\b(peace"
                r"|solidarity|silent|candle-?light) march(es)?\b",
                "protest marches and rallies",
            ),
            Cue(
                r"\b(thousands|hundreds|dozens|scores|crowds?) of\s+(\w+\s+){0,3}?(marched"
                r"|rallied|demonstrated|protested)\b",
                "crowds marching or protesting",
            ),
            Cue(
                r"\bprotest(s|ed|ing)? (outside|in front of|at the gates of|on the streets)\b",
                "protesting at a place",
            ),
            Cue(
                r"\b(went|go|going|goes|are|were|was|is|been|remain(ed|s)?) on (an? )?"
                r"(\w+ ){0,2}?strike\b|\b(general|labou?r|nationwide|indefinite|token|wildcat"
                r"|sit-down) strikes?\b|\bstriking (workers|employees|teachers|doctors|nurses"
                r"|miners|drivers|staff|unions?)\b",
                "labour strikes count as PROTEST (as PLOVER's strike modes do)",
            ),
        ),
        mask=(
            Cue(
                r"\b(lodged?|lodging|filed|formal|strong|diplomatic|official|written|verbal)"
                r" (a |an )?protests?\b|\bprotest (notes?|letters?)\b",
                "verbal and diplomatic protests",
            ),
            Cue(
                r"\b(election|electoral|campaign|poll|political|party) rall(y|ies)\b",
                "campaign rallies are no protest",
            ),
            Cue(
                r"\b(air|drone|missile|military|aerial|retaliatory|precision|surgical"
                r"|pre-?emptive|rocket|artillery|nuclear|first|counter)[\s-]strikes?\b",
                "military strikes",
            ),
        ),
        veto=(
            Cue(
                r"\b(armed|transport|forced) (strikes?|stoppages?)\b|\bbandhs?\b",
                "strikes imposed by armed groups (MUC-4, Maoist bandhs) are THREAT_COERCION",
            ),
            Cue(
                r"\b(request\w*|permission|permits?|allow(s|ed|ing)?|right to|freedom to)\b",
                "asking for or having the right to protest is no protest",
            ),
        ),
    ),
    EventType.RIOT: TypeRules(
        fire=(
            Cue(r"\briot(s|ed|ing|ers?)?\b", "riots and rioters (riot police etc. masked)"),
            Cue(
                r"\b(communal|caste) (violence|clash(es)?|riots?|flare-?ups?)\b",
                "communal and caste violence (Indian news)",
            ),
            Cue(
                r"\b(angry|irate|violent|frenzied|unruly|furious|armed|rampaging) mobs?\b"
                r"|\bmob (violence|attacks?|lynching|justice|fury)\b",
                "violent mobs",
            ),
            Cue(
                r"\bmobs?\s+(of\s+(\w+\s+){1,3})?(attack|beat|lynch|torch|burn|burnt|set|storm"
                r"|ransack|pelt|stone|loot|vandali[sz]|clash|damag|assault|gherao)\w*",
                "a mob doing violence",
            ),
            Cue(r"\blynch(ed|ing|ings)?\b", "lynching"),
            Cue(
                r"\b(stone|brick)[\s-]?pelt\w*|\bpelt(ed|ing)\s+(\w+\s+){0,2}?(stones|bricks"
                r"|rocks)\b|\b(threw|hurled|throwing|hurling)\s+(\w+\s+){0,2}?(stones|rocks"
                r"|bricks)\b",
                "stone pelting and throwing",
            ),
            Cue(
                r"\b(beat|beaten|lynched|thrashed)\b[^.;]{0,40}?\b(suspected|alleged) (thie(f|ves)"
                r"|robbers?|kidnappers?|child[\s-]lifters?|witch(es)?)\b",
                "crowds punishing suspected thieves (mob justice)",
            ),
            Cue(
                r"\b(angry|irate|furious|enraged|agitated) (\w+ ){0,2}?(residents|villagers|crowds?"
                r"|youths|people|locals|students|workers|mourners|relatives|protesters|supporters)"
                r"\s+(\w+\s+){0,2}?(torched|burn(ed|t)|set fire|set ablaze|attacked|stoned|pelted"
                r"|ransacked|vandali[sz]ed|smashed|stormed|beat|damaged)\b",
                "an angry crowd doing violence",
            ),
            Cue(
                r"\b(protest(e|o)rs|demonstrators|crowds?|students|youths|mobs?|supporters"
                r"|residents|villagers|workers|fans|farmers)\s+(\w+\s+){0,2}?"
                r"(clashed|clash|battled|fought) with (the )?(\w+ )?(police|security forces"
                r"|troops|soldiers|authorities)\b",
                "crowds fighting the police",
            ),
            Cue(
                r"\b(protests?|demonstrations?|rall(y|ies)|march(es)?|agitations?|crowds?)\s+"
                r"(\w+\s+){0,2}?turned violent\b|\bviolent (protests?|demonstrations?"
                r"|agitations?)\b",
                "protests that turned violent",
            ),
        ),
        mask=(
            Cue(
                r"\b(anti-?)?riot[\s-](police|policemen|gear|control|squads?|shields?|units?"
                r"|vans?|act|forces?|troops)\b|\briots? of colou?rs?\b",
                "riot police and gear are no riot",
            ),
            Cue(
                r"\briots?[\s-](victims?|affected|hit|torn|free|situation|relief|camps?|cases?"
                r"|accused|probe|inquiry|survivors?|widows?|zones?|prone|sensitive)\b",
                "riots as a modifier (riot victims, riot-hit) name a past event in passing",
            ),
        ),
        veto=(Cue(r"\b(elephants?|tuskers?)\b", "elephants rampage and damage too"),),
    ),
    EventType.TERRITORY_CHANGE: TypeRules(
        fire=(
            Cue(
                rf"\b(captured|seized|retook|retaken|recaptured|overran|overrun|regained"
                rf"|stormed and (captured|seized|took))\s+{_DET}?{_NOUN_GAP}{_PLACE}\b"
                rf"|\bliberated\s+{_DET}{_NOUN_GAP}{_PLACE}\b",
                "capturing or retaking a place, no preposition in between ('liberated' "
                "needs a determiner: 'liberated territories' is a name)",
            ),
            Cue(
                rf"\b(took|taken|gained|regained|seized|wrested|assumed|established|restored"
                rf"|retook|retaken) (full |complete |total |effective )?control (of|over)\s+"
                rf"{_DET}?{_NOUN_GAP}{_PLACE}\b|\b(took|taken) (over|back)\s+{_DET}?"
                rf"{_NOUN_GAP}{_PLACE}\b",
                "taking control of a place",
            ),
            Cue(
                rf"\b(fell|falls|fallen) (in)?to (the )?(hands of (the )?)?(\w+[\s-]){{0,2}}?"
                rf"{_GROUP}\b",
                "a place falling to an armed group",
            ),
            Cue(
                rf"\b(retook|recaptured|liberated|wrested)\s+(\w+[\s-]){{1,3}}?from (the )?"
                rf"(\w+[\s-]){{0,2}}?{_GROUP}\b",
                "retaking a named place from an armed group ('retook Palmyra from IS')",
            ),
            Cue(
                rf"\b(expelled|drove|pushed|ousted|chased)\s+(\w+[\s-]){{0,2}}?{_GROUP}\s+(out of"
                rf"|from)\s+{_DET}?{_NOUN_GAP}{_PLACE}\b",
                "driving an armed group out of a place (people driven from homes are displaced)",
            ),
            Cue(
                r"\b(withdr(ew|awn)|retreated|pulled out|pulled back) from (the )?"
                r"(\w+[\s-]){0,3}?(towns?|city|villages?|districts?|provinces?|regions?|bases?"
                r"|airports?|capital|strongholds?|territor(y|ies)|outposts?|garrisons?)\b",
                "forces withdrawing from a place",
            ),
        ),
    ),
    EventType.WEAPONS_SEIZURE: TypeRules(
        fire=(
            Cue(
                rf"\b(seiz(ed|es|ing|ures?)|recover(ed|y|ies|ing)|confiscat(ed|ion|ing)"
                rf"|impound(ed|ing)|unearth(ed|ing)|intercepted|captured)\s+{_gap(6)}{_WEAPON}\b",
                "seizing or recovering weapons within the same clause",
            ),
            Cue(
                rf"\b{_WEAPON}\s+{_gap(6)}(were|was|have been|has been|had been|being)\s+"
                r"(seized|recovered|confiscated|impounded|unearthed|found|captured)\b(?! to\b)",
                "weapons were seized (passive; not 'were found to be')",
            ),
            Cue(
                rf"\b{_WEAPON}\s+(\w+\s+){{0,2}}?(seized|recovered|confiscated|captured"
                r"|impounded) (from|in|during|by)\b",
                "weapons seized from someone (participle)",
            ),
            Cue(
                rf"\b(found|discovered|uncovered|dug up|turned up)\s+{_gap(6)}{_WEAPON}\s+"
                r"(\w+\s+){0,3}?(hidden|concealed|buried|stashed|stored)\b",
                "hidden weapons found ('found' alone is too loose)",
            ),
            Cue(
                r"\b(looted|raided|stormed|broke into|ransacked)\s+(\w+\s+){0,3}?armou?r(y|ies)\b",
                "an armoury raided: its weapons taken",
            ),
            Cue(
                r"\bhauls? of (\w+\s+){0,2}?(arms|weapons|ammunition|explosives|grenades|rifles"
                r"|guns)\b",
                "a haul of weapons is a seized one",
            ),
            Cue(
                r"\b(found|discovered|uncovered|unearthed|located|seized|recovered|busted)\s+"
                r"(\w+\s+){0,3}?(arms|weapons?|ammunition|explosives?|munitions)"
                r" (haul|cache|dump)s?\b|\b(arms|weapons?|ammunition|explosives?|munitions)"
                r" (haul|cache)s? (was|were|has been|have been) (found|discovered|uncovered"
                r"|unearthed|seized)\b",
                "arms caches found",
            ),
        ),
        mask=(
            Cue(
                r"\b(bullet|shell|cartridge)[\s-]casings?\b",
                "spent casings at a crime scene are evidence, not seized arms",
            ),
        ),
        veto=(
            Cue(
                r"\b(per ?cent|percentage|number of|statistics|figures|data|total of)\b",
                "seizure statistics name no seizure",
            ),
        ),
    ),
    EventType.ARMED_CLASH: TypeRules(
        fire=(
            Cue(
                r"\b(gun[\s-]?battles?|gun[\s-]?fights?|fire[\s-]?fights?|shoot-?outs?"
                r"|exchanges? of (gun)?fire|exchang(ed|ing) (gun)?fire|cross-?fire)\b",
                "gun battles, firefights, exchanges of fire",
            ),
            Cue(
                r"\barmed (clash(es)?|confrontations?|encounters?|engagements?)\b",
                "armed clashes (MUC-4: 'armed confrontation')",
            ),
            Cue(
                r"\b(heavy|fierce|intense|intensified|renewed|sporadic|bitter|bloody|street"
                r"|ground) (fighting|clashes|combat|battles?)\b",
                "fierce fighting",
            ),
            Cue(
                r"\b(fighting|clashes|battles?|combat|skirmish(es)?)\s+(between|erupted"
                r"|broke out|raged|flared|continued|resumed)\b",
                "fighting between sides",
            ),
            Cue(
                rf"\b(clash(ed|es)?|skirmish(ed|es)?|battled|fought)\s+(with|against)\s+"
                rf"(the |a |an )?(suspected |armed |heavily armed |rival )?(\w+[\s-]){{0,2}}?"
                rf"{_ARMED}\b",
                "clashing with an armed actor",
            ),
            Cue(
                r"\b(killed|died|wounded|injured|dead) in (the )?(\w+ )?(clashes|fighting|battles?"
                r"|combat|gun[\s-]?fights?)\b|\breturn(ed|ing) fire\b|\btrad(ed|ing) (\w+ ){0,2}?"
                r"(fire|shots|gunfire)\b",
                "killed in clashes; returning fire; trading fire",
            ),
            Cue(
                rf"\b{_ARMED}\s+and\s+(\w+[\s-]){{0,2}}?{_ARMED}\s+(clashed|fought|battled"
                r"|exchanged fire|traded fire)\b",
                "two armed sides fighting",
            ),
            Cue(
                r"\b(rival|opposing|two) (\w+\s+){0,2}?(factions|gangs|militias|clans|armies"
                r"|cartels|tribes)\s+(clashed|fought|battled)\b",
                "rival armed groups fighting",
            ),
        ),
        mask=(
            Cue(
                r"\b(legal|court|political|custody|election|electoral|verbal|diplomatic"
                r"|rhetorical|boardroom) (battles?|fights?|fighting|clash(es)?)\b"
                r"|\bwar of words\b",
                "figurative fights",
            ),
        ),
        veto=(
            Cue(
                r"\b(protest(e|o)rs|demonstrators|students|crowds?|mobs?|rioters|communal"
                r"|supporters|hindus?|muslims?|christians?)\b",
                "crowds fighting the police, and religious groups fighting, are a RIOT",
            ),
        ),
    ),
}
RULES: Mapping[EventType, TypeRules] = MappingProxyType(_RULES)
RARE_TYPES: tuple[EventType, ...] = tuple(e for e in EventType if e in RULES)
