"""Frequent English words, used to decide case sensitivity automatically.

A brand term whose words are all ordinary English ("Notion", "Close", "Box", "Monday",
"New Balance") is matched only as written, so "the notion of" or "close the deal" do not
count as mentions; rarer names ("HubSpot", "Pipedrive") match in any case. The list was
written for this purpose (frequent vocabulary, weekday and month names, and ordinary words
that are also well-known brand names), not downloaded, so it ships with the code and never
changes under a running experiment.
"""

from __future__ import annotations

import re

_WORDS = """
a able about above abroad absence absolute absolutely absorb abstract abuse academic accept
acceptable access accessible accident accidentally accompany accomplish accomplished according
account accuracy accurate accuse ace achieve achievement acid acknowledge acoustic acquire acre
across act action active actively activist activity actor actress actual actually ad adapt
adaptive add addict addicted addition additional address adequate adjust adjustment
administration admire admission admit adopt adorable adult advance advanced advantage adventure
advertise advertisement advertising advice advise adviser advocate affair affect affection
afford affordable afraid after afternoon afterward afterwards again against age agency agenda
agent aggregate aggressive agile aging ago agree agreement agricultural ahead aid aide aim air
aircraft airline airplane airport aisle alarm album alcohol alien align alignment alive all
allegation allergy alley alliance allocate allow ally almost alone along alpha already alright
also alter alternative although altogether aluminum always am amateur amaze amazed amazing
ambition ambitious ambulance amendment amid ammunition among amount amusement analog analysis
analyst analytics analyze anchor ancient and angel anger angle angry animal ankle anniversary
announce announcement annoy annoying annual another answer answerable anticipate antique anxiety
anxious anxiously any anybody anymore anyone anything anyway anywhere apart apartment apology
apparel apparent apparently appeal appear appearance appetite applaud apple appliance applicant
application apply appoint appointment appraisal appreciate approach appropriate approval approve
approximately apps april apron aquarium arc arch architect are area arena arguably argue
argument arise arm armed armor army around arrange arrangement arrest arrival arrive arrow art
article artist artistic artwork as ash aside ask asleep aspect assault assembly assert assess
assessment asset assign assignment assist assistance assistant associate association assume
assumption assure astronaut asylum at athlete atlas atmosphere atom attach attack attempt attend
attention attic attitude attorney attract attractive attribute auction audience audio audit
august aunt authentic author authority auto automatic autumn available avenue average avocado
avoid awake award aware awareness away awful awkward axis baby back background backpack backup
backyard bacon bacteria bad badge badly bag bait bake bakery balance balcony bald ball ballot
bamboo ban banana band bandwidth bank banner bar bare barely bargain bark barn barrel barrier
base baseball basement basic basically basis basket basketball batch bath bathroom battery
battle bay be beach beam bean bear beard beast beat beautiful beauty because become bed bedroom
bee beef been beer before beg begin beginning behalf behave behavior behind being belief believe
bell belly belong beloved below belt bench bend beneath benefit berry beside besides best bet
better between beyond bias bible bicycle bid big bigger biggest bike bill billion bin bind
biography biological biology bird birth birthday biscuit bishop bit bite bitter black blade
blame blank blanket blast bleed blend bless blind blink block blog blood bloom blossom blouse
blow blue blur board boards boast boat body bold bolt bomb bond bone bonus book boom boost boot
booth border bore boring born borrow boss both bother bottle bottom bought bounce bound boundary
boundless bow bowl box boxes boxing boy bracelet brain brake branch brand brass brave bread
break breakfast breast breath breathe breed breeze brew brick bride bridge brief briefly bright
brilliant bring broad broccoli broken broker broom brother brought brown browser brush bubble
buck bucket buddy budget bug build building built bulk bull bullet bump bunch bundle burden
burger burn burst bury bus business businesses busy but butter butterfly button buy buyer buzz
by cabin cabinet cable cage cake calculate calendar call calls calm came camel camera camp
campaign campus can canal cancel cancer candidate candle candy cannon canvas canyon cap
capability capable capacity capital capsule captain caption capture car carbon card care career
careful carefully carpet carrier carrot carry cart cartoon carve case cash casino cast castle
casual cat catalog catch category cattle caught cause cave ceiling celebrate celebration
celebrity cell cement center central century ceremony certain certainly chain chair chairman
challenge chamber champion championship chance change changing channel chaos chapel chapter
character characteristic characterize charge charity charm charming chart chase chat cheap
cheaper cheapest cheat check cheek cheer cheese chef chemical cherry chess chest chew chicken
chief child childhood chill chimney chin chip chocolate choice choir cholesterol choose chop
chorus chose chosen chunk church cigarette cinema circle circuit circumstance circus cite
citizen citrus city civil claim clap clarify class classic classroom clay clean clear clearly
clerk click client clients cliff climate climb clinic clinical clip clock close closely closer
clothes clothing cloud club clue cluster coach coal coast coat code coffee cognitive coin cold
collapse collar colleague collect collection collective college colonial colony color column
combination combine combo come comedy comes comet comfort comfortable comic command commander
comment commercial commission commit commitment committee common communicate communication
community commute compact companies company compare comparison compass compete competition
competitive competitor compile complain complaint complement complete completely complex
compliance complicated comply component compose composition compound comprehensive compress
compute computer concentrate concentration concept concern concerned concert concise conclude
conclusion concrete condition condo conduct cone conference confess confidence confident config
confirm conflict confront confuse confusion congress congressional connect connection conquer
conscience consciousness consensus consent consequence conservative consider considerable
consideration consist consistent console conspiracy constant constantly constitute
constitutional construct construction consult consultant consume consumer consumption contact
contain container contemporary contempt content contest context continent continue continued
contract contractor contrast contribute contribution control controversial controversy
convenient convention conventional conversation convert convey conviction convince cook cookie
cooking cool cooperation cop cope copy cord core cork corn corner corporate corporation correct
correspondent corridor cosmic cost costume cottage cotton couch cough could council counselor
count counter country county couple coupon courage course court courtroom cousin cover coverage
cow cozy crab crack cradle craft cram crane crash crawl crazy cream create creation creative
creature credit crest crew crib cricket crime criminal crisis crisp criteria critic critical
criticism criticize crop cross crowd crown crucial cruise crumb crush cry crystal cube cuisine
cultural culture cup cupboard curb cure curious curl current currently curriculum curve cushion
custom customer customers cut cute cyber cycle dad daily dairy dam damage damp dance danger
dangerous dare dark darkness dash dashboard data database date daughter dawn day daylight days
dead deal dealer dean dear death debate debris debt debut decade december decent decide decision
deck declare decline decor decorate decrease deduct deep deeply deer defeat defend defendant
defense defensive deficit define definitely definition degree delay delete delicate delight
deliver delivery delta demand demo democracy democratic demonstrate demonstration dense dental
deny department depend dependent depending depict deposit depression depth deputy derive
describe description desert deserve design designer desire desk desktop desperate despite
dessert destination destroy destruction detail detailed detect detective determine develop
developer developing development device devil devote diagram dial dialogue diamond diary dice
did die diesel diet differ difference different differently difficult difficulty dig digest
digital dim dimension dining dinner dinosaur dip diploma direct direction directly director
directory dirt dirty disability disagree disappear disaster disc discipline discord discount
discourse discover discovery discrimination discuss discussion disease dish dismiss disorder
display dispute distance distant distinct distinction distinguish distribute distribution
district dive diverse diversity divide division divorce dizzy dna do dock docs doctor document
documents does dog doing dolphin domain domestic dominant dominate donate done donkey donor doom
door dose dot double doubt dove down download downtown dozen draft drag dragon drain drama
dramatic dramatically draw drawer drawing dream dress drew drill drink drip drive driven driver
drone drop drove drown drug drum dry dual duck due dull dump dune during dusk dust duty dye each
eager eagle ear early earn earnings earth ease easel easier easiest easily east eastern easy eat
echo eclipse economic economics economist economy edge edition editor educate education
educational educator eel effect effective effectively efficiency efficient effort egg eight
either elbow elderly elect election electric electricity electronic elegant element elementary
elevator elf eliminate elite else elsewhere email emails embassy ember embrace emerald emerge
emergency emission emotion emotional emphasis emphasize empire employ employee employer
employment empty enable encounter encourage end enemy energy enforcement engage engine engineer
engineering enhance enjoy enormous enough enroll ensure enter enterprise entertainment entire
entirely entrance entry envelope environment environmental epic episode equal equally equation
equipment era erase erosion errand error escape especially essay essence essential essentially
establish establishment estate estimate etc eternal ethics ethnic evaluate evaluation even
evening event eventually ever every everybody everyday everyone everything everywhere evidence
evil evolution evolve exact exactly exam examination examine example exceed excellent except
exception excess exchange excite exciting exclude excuse executive exercise exhaust exhibit
exhibition exist existence existing exit exotic expand expansion expect expectation expense
expensive experience experiment expert expire explain explanation explode explore explosion
export expose exposure express expression extend extension extensive extent external extra
extraordinary extreme extremely eye fabric fabulous face facility fact factor factory faculty
fade fail failure fair fairly fairy faith fake fall false familiar family famous fan fancy
fantastic fantasy far fare farewell farm farmer fashion fast faster fastest fat fatal fate
father faucet fault favor favorite fear feast feather feature features february federal fee feed
feedback feel feeling fell fellow felt female fence ferry festival fetch fever few fewer fiber
fiction field fierce fifteen fifth fifty fig fight fighter fighting figure file files fill film
filter fin final finally finance financial find finding fine finger finish fire firewall firm
first fish fishing fit fitness five fix flag flame flash flask flat flavor flee fleet flesh flew
flex flight flip float flock flood floor flour flow flower flush flute fly foam focus fog foil
fold folk follow following font food foot football for force forecast foreign forest forever
forge forget forgot fork form formal formation former formula fort forth fortune forward fossil
fought found foundation founder fountain four fourth fox fraction fragile frame framework fraud
free freedom freeze freight frequency frequent frequently fresh friday fridge friend friendly
friendship frog from front frontier frost frown fruit frustration fuel full fully fun function
fund fundamental funding funeral funnel funny fur furniture furthermore fury fuse future gadget
gain galaxy gallery game gang gap garage garbage garden garlic gas gasp gate gather gauge gave
gay gaze gear gel gem gender gene general generally generate generation generous genetic genius
genre gentle gentleman gently genuine germ gesture get ghost giant gift gifted giggle ginger
giraffe girl girlfriend give given gives glacier glad glance glass glimpse global globe gloom
glory glove glow glue go goal goat god goes gold golden golf gone good gossip got gotten
government governor gown grab grace grade gradually graduate grain grand grandfather grandmother
grant grape graph grass grave gravel gravity gray great greatest green grew grill grin grip
grocery groom ground group grove grow growing growl grown growth guarantee guard guess guest
guide guideline guilty guitar gulf gum gun guy gym habit habitat hack had hair half hall hammer
hamster hand handbook handful handle handy hang happen happy harbor hard harder hardest hardly
harvest has hat hate have having hawk hazard he head headache headline headquarters health
healthy heap hear heard hearing heart heat heater heaven heavily heavy hedge heel height held
helicopter hell hello help helpful her here heritage hero herself hey hi hid hide high higher
highest highlight highly highway hill him himself hint hip hire his historian historic
historical history hit hive hobby hockey hold hole holiday hollow holy home homeless honest
honey honeymoon honor hood hook hop hope horizon horn horror horse hose hospital host hot hotel
hour house household housing how however hub hug huge hull human humor hundred hung hungry hunt
hunter hunting hurdle hurricane hurt husband hut hybrid hymn hypothesis i ice icon idea ideal
identification identify identity idle ie if igloo ignite ignore ill illegal illness illusion
illustrate image imagination imagine immediate immediately immigrant immigration immune impact
implement implication imply import importance important impose impossible impress impression
impressive improve improvement in inbox incentive inch incident include including income
incorporate increase increased increasing increasingly incredible indeed independence
independent index indicate indication individual indoor industrial industry infant infection
inflate inflation influence inform information ingredient inherit initial initially initiative
injury ink inn inner innocent input inquiry insect inside insight insist inspect inspire install
instance instant instead institution institutional instruction instructor instrument insult
insurance intact intake intellectual intelligence intend intense intensity intention interaction
interest interested interesting internal international internet interpret interpretation
intervention interview into intranet introduce introduction invasion invest investigate
investigation investigator investment investor invite invoice involve involved involvement iron
is island issue it item its itself ivory jacket jaguar jail january jar jazz jeans jelly jet
jewel jewelry job jog join joint joke journal journalism journalist journey joy judge judgment
juice july jump june jungle junior junk jury just justice justify keen keep kept kettle key
keyboard kick kid kill killer killing kind king kingdom kiss kit kitchen kite kitten knee knew
knife knit knock knot know knowledge known koala lab label labor laboratory lack ladder lady
lake lamb lamp land landscape lane language lap laptop large largely larger largest laser last
late later latter laugh launch lava law lawn lawsuit lawyer lay layer layout lazy lead leader
leadership leading leaf league leak lean learn learning lease least leather leave lecture led
ledge left leg legacy legal legend legislation legitimate lemon length lens lent leopard less
lesson let letter level lever liberal library license lid lie life lifestyle lifetime lift light
like likely lily limb lime limit limitation limited line linear linen link links lion lip liquid
list listen lit literally literary literature litter little live living lizard load loan lobby
lobster local locate location lock logic login logo long look loop loose lose loss lost lot lots
lottery loud lounge love lovely lover low lower lowest loyal luck lucky lumber lunar lunch lung
luxury lyrics machine mad made magazine magic magnet maid mail main mainly maintain maintenance
major majority make maker makes makeup making male mall mammal man manage management manager
mango manner manual manufacturer manufacturing many map maple marble march margin marine mark
market marketing marriage married marry mars marsh mascot mask mass massive master mat match
material math matter may maybe mayor maze me meadow meal mean meaning meant meanwhile measure
measurement meat mechanism media medical medication medicine medium meet meeting meetings mellow
melody melt member membership memory mental mention mentor menu mere merely merge merit mesh
mess message messages met metal meter method metro microphone middle midnight might mild miles
military milk mill million mimic mind mine mineral minister minor minority mint minus minute
miracle mirror miss missile mission mist mistake mix mixture mobile mode model modem moderate
modern modest module moist mold mom moment monday money monitor monkey monster month mood moon
moral more moreover morning mortgage mosquito moss most mostly moth mother motion motivation
motive motor mount mountain mouse mouth move movement movie much mule multiple mural murder
muscle museum mushroom music musical musician must mustard mutual my myself mystery myth nail
naked name napkin narrative narrow nation national native natural naturally nature navy near
nearby nearly necessarily necessary neck need negative negotiate negotiation neighbor
neighborhood neither nerve nervous nest net network neutral never nevertheless new newer newest
newly news newspaper next nice nickel night nine no noble nobody nod noise nomination none
nonetheless noodle nor normal normally north northern nose not note notebook notes nothing
notice notion novel november novice now nowhere nuclear number numerous nurse nursery nut oak
oasis oath obey object objective obligation observation observe observer obtain obvious
obviously occasion occasionally occupation occupy occur ocean october octopus odd odds of off
offense offensive offer office officer official offline often oh oil ok okay old older oldest
olive olympic omit on once one ongoing onion online only onto open opening opera operate
operating operation operator opinion opponent opportunity oppose opposite opposition option
options or oracle orange orbit orchard orchestra order ordinary organ organic organization
organize orientation origin original originally ostrich other others otherwise otter ought our
ourselves out outcome outfit outlet outline output outside oval oven over overall overcome
overlook owe owl own owner oxygen oyster pace pack package pad paddle page pages paid pain
painful paint painter painting pair palace pale palm pan panda panel panic pant paper paradise
parcel parent park parking parrot part participant participate participation particular
particularly partly partner partnership party pass passage passenger passion password past pasta
paste pastry patch path patient patrol pattern pause pave pay payment peace peach peak peanut
pear pearl pedal peel peer penalty pencil penguin pension people pepper per perceive percentage
perception perfect perfectly perform performance perfume perhaps period permanent permission
permit person personal personality personally personnel perspective persuade pest pet petal
phantom phase phenomenon philosophy phone photo photograph photographer phrase physical
physically physician piano pick pickle picture pie piece pigeon pile pill pillow pilot pin pine
pink pioneer pipe pipeline pirate pistol pitch pixel pizza place plan plane planet planning
plans plant plastic plate platform play player plaza please pleasure plenty plot plug plum
plumber plus pocket poem poet poetry point polar pole police policy polish political politically
politician politics poll pollution pond pony pool poor pop popular population porch port portal
portion portrait portray pose position positive possess possibility possible possibly post
poster pot potato potential potentially pottery pouch pound pour poverty powder power powerful
practical practice prairie prawn pray prayer precisely predict prefer preference pregnancy
pregnant premium preparation prepare prescription presence present presentation preserve
president presidential press pressure pretend pretty prevent preview previous previously price
prices pride priest primarily primary prime prince princess principal principle print printer
prior priority prism prison prisoner privacy private prize probably problem procedure proceed
process produce producer product production products profession professional professor profile
profit program progress project projects prominent promise promote prompt proof prop proper
properly property proportion proposal propose proposed prose prosecutor prospect protect
protection protein protest proud prove provide provider province provision proxy psychological
psychologist psychology public publication publicly publish publisher pudding pull pulse puma
pump pumpkin punch punishment pupil puppet puppy purchase pure purpose purse pursue push put
puzzle pyramid qualify quality quarry quarter quarterback queen query quest question quick
quickly quiet quietly quit quite quiz quote rabbit raccoon race racial radar radical radio rage
raid rail railway rain rainbow raise rally ran ranch range rank rapid rapidly rare rarely rat
rate rather rating ratings ratio raven raw razor reach react reaction read reader reading ready
real reality realize really realm reason reasonable rebel recall receipt receive recent recently
recipe recognition recognize recommend recommendation record recording recover recovery recruit
recycle red reduce reduction reef refer referee reference reflect reflection reform refugee
refund refuse regard regarding regardless regime region regional register regular regularly
regulate regulation reign reinforce reject relate relation relationship relative relatively
relax relay release relevant relic relief religion religious rely remain remaining remarkable
remedy remember remind remote remove rent repair repeat repeatedly replace reply report reporter
represent representation representative reptile reputation request require requirement rescue
research researcher resemble reservation resident resist resistance resolution resolve resort
resource respect respond respondent response responsibility responsible rest restaurant restore
restriction result results resume retail retain retire retirement retreat return reveal revenue
review reviews revolution rhino rhythm ribbon rice rich rid riddle ride ridge rifle right rim
ring riot ripple rise risk ritual rival river road robe robot rock rocket rode rodeo role roll
romantic roof rookie room root rope rose roster rotate rough roughly round route router routine
row rub rubber rug ruin rule ruler rumor run runners running rural rush sacred sad saddle safe
safety saga said sail saint sake salad salary sale sales salmon salon salt same sample sanction
sand sandwich sang sat satellite satin satisfaction satisfy saturday sauce sauna sausage save
saving saw say says scale scandal scared scarf scenario scene schedule scheme scholar
scholarship school science scientific scientist scooter scope score scout scrap scratch scream
screen screw script scroll sculpture sea seal search season seat second secret secretary section
sector secure security see seed seek seem seen segment seize select selection self sell seminar
senate senator send senior sense sensitive sensor sent sentence separate september sequel
sequence series serious seriously serve server service services session set setting settle
settlement seven several severe sewer sex sexual shade shadow shake shall shampoo shape share
shark sharp she shed sheep sheet shelf shell shelter shield shift shine ship shirt shit shock
shoe shoes shook shoot shooting shop shopping shore short shortly shot should shoulder shout
show shower shrimp shrug shut shuttle sick side siege sigh sight sign signal significance
significant significantly silence silent silk silver similar similarly simple simply sin since
sing singer single sink sir sister sit site sites situation six size sketch ski skill skin skull
sky slack slam slave sled sleep sleeve slept slice slide slight slightly slip slope slot slow
slower slowly small smaller smallest smart smell smile smoke smooth snack snake snap sneaker
sniff snow so so-called soap soccer social society sock sofa soft software soil solar sold
soldier solid solo solution solve some somebody somehow someone something sometimes somewhat
somewhere son song sonic soon sophisticated sorry sort soul sound soup source south southern
space spade spark sparrow speak speaker spear special specialist species specific specifically
speech speed spend spending spent spice spider spike spin spinach spirit spiritual split spoke
spokesman sponge spoon sport spot spray spread spring sprint squad square squeeze squirrel
stability stable stadium staff stage stair stake stamp stand standard standing staple star stare
start startup state statement station statistics status stay steady steak steal steam steel stem
step stew stick sticker still sting stir stock stole stomach stone stood stool stop storage
store storm story stove straight strange stranger strap strategic strategy straw strawberry
stream street strength strengthen stress stretch strike string strip stripe stroke strong
strongly struck structure struggle student studio study stuff stupid style subject submit
subsequent substance substantial suburb subway succeed success successful successfully such
sudden suddenly sue suffer sufficient sugar suggest suggestion suicide suit suitcase summer
summit sun sunday sunset super supply support supporter suppose supposed sure surely surf
surface surgeon surgery surprise surprised surprising surprisingly surround survey survival
survive survivor suspect sustain swam swamp swan swear sweater sweep sweet swim swing switch
sword swore symbol symptom syrup system table tablespoon tablet tackle taco tactic tag tail
tailor take taken takes tale talent talk tall tank tap tape target task tasks taste taught tax
taxi taxpayer tea teach teacher teaching team teams tear teaspoon technical technique technology
teen teenager telegram telephone telescope television tell tells temperature template temple
temporary ten tend tendency tender tennis tension tent term terminal terms terrible territory
terror terrorism terrorist test testify testimony testing text than thank thanks that the
theater theft their them theme themselves then theory therapy there therefore these they thick
thief thin thing things think thinking third thirty this those though thought thousand thread
threat threaten three threw throat through throughout throw thrown thumb thunder thursday thus
ticket tide tidy tie tiger tight timber time times tiny tip tire tired tissue title to toast
tobacco today toe together toilet token told tomato tomb tomorrow tone tongue tonight too took
tool tools tooth top topic torch tornado tortoise toss total totally touch tough tour tourist
tournament toward towards towel tower town toxic toy trace track tractor trade tradition
traditional traffic tragedy trail train training transfer transform transformation transit
transition translate transportation trash travel tray treat treatment treaty tree tremendous
trend trial tribe trick trip troop trophy tropical trouble truck true truly trust truth try tube
tuesday tulip tuna tunnel turkey turn turtle tutor tv twelve twenty twice twig twin twist two
tycoon type typical typically typo ugly ultimate ultimately umbrella unable uncle under undergo
understand understanding understood unfortunately unicorn uniform union unique unit united
universal universe university unknown unless unlike unlikely until unusual up upgrade upload
upon upper urban urge us usage use used useful user users usual usually utensil utility vacation
vacuum valley valuable value valve vampire vanilla variable variation variety various vary vast
vault vegetable vehicle velvet vendor venture venue verb verdict version versus very vessel vest
veteran veto via vibe victim victory video view viewer villa village vinegar vintage violate
violation violence violent violin virtual virtually virtue virus visa visible vision visit
visitor visual vital vitamin vivid vocal voice volcano volume volunteer vote voter voucher
voyage vs vulnerable wage wagon waist wait wake walk wall wallet walnut wander want war wardrobe
warehouse warm warn warning was wash wasp waste watch water wave way ways we weak wealth wealthy
weapon wear weather weave web webinar website wedding wedge wednesday week weekend weekly weigh
weight welcome welfare well went were west western wet whale what whatever wheat wheel when
whenever where whereas whether which while whip whisper whistle white who whole whom whose why
wide widely widespread wife wig wild wildlife will willing willow win wind window wine wing
winner winter wipe wire wisdom wise wish with withdraw within without witness wizard woke wolf
woman won wonder wonderful wood wooden wool word words wore work worker workflow working works
workshop workspace world worried worry worse worst worth would wound wrap wrist write writer
writing written wrong wrote yacht yard yeah year years yell yellow yes yesterday yet yield yoga
yogurt you young youth zebra zero zip zone zoom
"""

COMMON_WORDS: frozenset[str] = frozenset(_WORDS.split())
"""Lower-case common words (about 4145)."""

_WORD_SPLIT = re.compile(r"[\s\-]+")


def is_common_phrase(text: str) -> bool:
    """Whether every word of ``text`` is a common English word.

    Words are split on whitespace and hyphens; anything else (a dot in "monday.com", a digit)
    makes a word uncommon, because such spellings only occur as names.
    """
    words = [word for word in _WORD_SPLIT.split(text.casefold()) if word]
    return bool(words) and all(word in COMMON_WORDS for word in words)
