"""The demo's pages and news posts (text only): `flask crm demo` (crm/demo.py) loads them."""

from __future__ import annotations

PAGES = [
    (
        "about",
        "About us",
        1,
        """We are a UK solidarity group of trade unionists, lawyers, students, faith groups and members of
the Serranían diaspora who stand with human-rights defenders in Serranía, a fictional Andean
republic used in this demonstration.

**A short history.** Serranía's civil conflict lasted from 1971 to 2011 and cost more than
80,000 lives. The 2011 Cartagena Accord (also fictional) promised land reform, truth-telling and
protection for communities that had been caught between the army and armed groups. Much of it
has never been carried out, and since the accord more than 600 community leaders have been killed.

**Our human-rights work.** We send delegations and legal observers, run urgent appeals when a
defender is threatened, brief Members of Parliament, and twin UK union branches with Serranían
ones so that people at risk are seen and known by name.""",
        "Quiénes somos",
        """Somos un grupo de solidaridad del Reino Unido formado por sindicalistas, abogadas, estudiantes,
comunidades de fe y personas de la diáspora serraniana que apoyan a quienes defienden los
derechos humanos en Serranía, una república andina ficticia que usamos en esta demostración.

**Un poco de historia.** El conflicto armado de Serranía duró de 1971 a 2011 y costó más de
80.000 vidas. El Acuerdo de Cartagena de 2011 (también ficticio) prometió reforma agraria,
verdad y protección para las comunidades atrapadas entre el ejército y los grupos armados. Gran
parte sigue sin cumplirse y, desde el acuerdo, han asesinado a más de 600 líderes comunitarios.

**Nuestro trabajo por los derechos humanos.** Enviamos delegaciones y observadores jurídicos,
lanzamos llamamientos urgentes cuando amenazan a un defensor, informamos a los diputados y
hermanamos secciones sindicales británicas con serranianas para que las personas en peligro
sean vistas y conocidas por su nombre.""",
    ),
    (
        "why-join",
        "Why join",
        2,
        """Members fund everything we do: we take no money from governments or political parties.
Membership gives you:

- briefings and updates from Serranía that we publish for members only;
- a vote at our annual general meeting, where members set our priorities;
- invitations to speaker tours and delegations;
- the knowledge that you stand with people who risk their lives for their communities.""",
        "Por qué afiliarse",
        """Las cuotas de los socios financian todo lo que hacemos: no aceptamos dinero de gobiernos ni de
partidos políticos. Como socio recibes:

- informes y noticias de Serranía que publicamos solo para socios;
- voto en nuestra asamblea general anual, donde los socios fijan nuestras prioridades;
- invitaciones a giras de ponentes y a delegaciones;
- la certeza de estar al lado de personas que arriesgan la vida por sus comunidades.""",
    ),
    (
        "privacy",
        "Privacy notice",
        3,
        """We hold your name, contact details, membership and payment
records to run your membership, claim Gift Aid where you have declared it, and, only if you
agree, to send you news. We never sell or share your details. Card details are held by Stripe,
never by us. You can download everything we hold about you from your account, or ask us to erase it.""",
        "Aviso de privacidad",
        """Guardamos tu nombre, tus datos de contacto y el registro de tu afiliación y tus pagos para
gestionar tu afiliación, reclamar el Gift Aid cuando lo hayas declarado y, solo si lo aceptas,
enviarte noticias. Nunca vendemos ni cedemos tus datos. Los datos de tu tarjeta los guarda
Stripe, nunca nosotros. Desde tu cuenta puedes descargar todo lo que guardamos sobre ti o
pedirnos que lo borremos.""",
    ),
    (
        "gift-aid",
        "Gift Aid",
        4,
        """If you are a UK taxpayer, Gift Aid lets us claim an extra 25p
from HMRC for every £1 you give, at no cost to you.

**The declaration:** *I want to Gift Aid my donation and any donations I make in the future or
have made in the past four years to this organisation. I am a UK taxpayer and understand that if
I pay less Income Tax and/or Capital Gains Tax than the amount of Gift Aid claimed on all my
donations in that tax year it is my responsibility to pay any difference.*""",
        "Gift Aid",
        """Si pagas impuestos en el Reino Unido, el Gift Aid nos permite reclamar a HMRC 25 peniques más por
cada libra que aportas, sin ningún coste para ti.

La declaración tiene validez legal en inglés; esta es una traducción orientativa: *Quiero
acogerme al Gift Aid en este donativo y en los que haga en el futuro o haya hecho en los últimos
cuatro años a esta organización. Pago impuestos en el Reino Unido y entiendo que, si pago menos
impuesto sobre la renta o sobre las ganancias de capital que el Gift Aid reclamado por todos mis
donativos en ese año fiscal, me corresponde pagar la diferencia.*""",
    ),
]

# slug, title, visibility, days ago, summary, body, Spanish title, Spanish summary, Spanish body.
# A post with language "es" in LANGUAGE_OF is written in Spanish only.
POSTS = [
    (
        "delegation-report-cauca",
        "Delegation report: the Altiplano Norte, October 2026",
        "public",
        3,
        "Our delegation met community guards and land defenders in the northern highlands.",
        "Our delegation of six trade unionists spent ten days in the Altiplano Norte.\n\nWe met community "
        "guards, coffee growers and human-rights lawyers, and heard how armed groups are moving into "
        "land left empty since the accord. **Our full report goes to Parliament next month.**",
        "Informe de la delegación: el Altiplano Norte, octubre de 2026",
        "Nuestra delegación se reunió con guardias comunitarias y defensores de la tierra en el altiplano.",
        "Nuestra delegación de seis sindicalistas pasó diez días en el Altiplano Norte.\n\nNos reunimos con "
        "guardias comunitarias, caficultores y abogados de derechos humanos, que nos contaron cómo los grupos "
        "armados ocupan las tierras que quedaron vacías tras el acuerdo. **Nuestro informe completo llegará "
        "al Parlamento el mes que viene.**",
    ),
    (
        "urgent-appeal-social-leaders",
        "Urgent appeal: protect community leaders in Valle Hondo",
        "public",
        10,
        "Three community leaders have received death threats this month.",
        "Three community leaders in Valle Hondo have received death threats.\n\nPlease write to Serranía's "
        "ambassador asking for effective, collective protection for their communities.",
        "Llamamiento urgente: protejamos a los líderes comunitarios de Valle Hondo",
        "Tres líderes comunitarios han recibido amenazas de muerte este mes.",
        "Tres líderes comunitarios de Valle Hondo han recibido amenazas de muerte.\n\nEscribe a la embajada "
        "de Serranía para pedir medidas de protección colectivas y eficaces para sus comunidades.",
    ),
    (
        "members-briefing-peace-talks",
        "Members' briefing: ten years after the accord",
        "members",
        5,
        "An analysis for members of what the accord promised and what has been done.",
        "This briefing is for members only.\n\n1. What the accord promised\n2. What has been done\n3. "
        "What we are asking the UK government to do",
        "Informe para socios: diez años después del acuerdo",
        "Un análisis para socios de lo que prometió el acuerdo y de lo que se ha cumplido.",
        "Este informe es solo para socios.\n\n1. Lo que prometió el acuerdo\n2. Lo que se ha cumplido\n3. "
        "Lo que pedimos al Gobierno británico",
    ),
    (
        "members-agm-2027",
        "Annual general meeting 2027: motions open",
        "members",
        1,
        "Members can now submit motions for next year's AGM.",
        "Motions for the 2027 annual general meeting are now open. Send yours by 31 January.",
        "Asamblea general anual de 2027: abierto el plazo de mociones",
        "Los socios ya pueden presentar mociones para la asamblea del año que viene.",
        "Ya está abierto el plazo de mociones para la asamblea general anual de 2027. Envía la tuya antes del "
        "31 de enero.",
    ),
    (
        "carta-desde-valle-hondo",
        "Carta desde Valle Hondo",
        "public",
        15,
        "Una lideresa comunitaria agradece las cartas que llegaron desde el Reino Unido.",
        "«Cuando llegaron sus cartas, el alcalde nos recibió por primera vez.» Así empieza la carta que "
        "nos envió una lideresa comunitaria de Valle Hondo. La publicamos en español, tal como la escribió.",
        "",
        "",
        "",
    ),
    (
        "welcome-new-coordinator",
        "Welcome to our new campaigns coordinator",
        "public",
        20,
        "We are delighted to welcome our new campaigns coordinator.",
        "We are delighted to welcome our new campaigns coordinator, who joins us from the trade union movement.",
        "Damos la bienvenida a nuestra nueva coordinadora de campañas",
        "Nos alegra mucho dar la bienvenida a nuestra nueva coordinadora de campañas.",
        "Nos alegra mucho dar la bienvenida a nuestra nueva coordinadora de campañas, que llega desde el "
        "movimiento sindical.",
    ),
]
#: Posts written in Spanish (their translated_* fields would hold the English).
SPANISH_ONLY = {"carta-desde-valle-hondo"}

#: The demo plans in Spanish (crm/demo.py): slug -> (name_es, description_es).
PLANS_ES = {
    "standard-yearly": ("Estándar (anual)", "Afiliación completa, renovada cada año."),
    "concession-yearly": ("Reducida (anual)", "Para estudiantes, personas sin empleo y jubiladas."),
    "monthly": ("Mensual", "Afiliación completa con pago mensual."),
    "organisation-yearly": ("Organización (anual)", "Para secciones sindicales y organizaciones."),
    "life": ("Vitalicia", "Un único pago: socio para toda la vida."),
    "joint-yearly": (
        "Conjunta (dos adultos en un domicilio)",
        "Dos adultos en un mismo domicilio, un solo pago: cada uno con su acceso y sus correos.",
    ),
}
