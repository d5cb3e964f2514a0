"""The built-in demo: the handbook of a fictional company, and questions with the passage that answers each.

Larkspur Trail Co. (made up; any likeness is chance) sells outdoor gear. Its handbook has ten
documents in every readable kind (Markdown, plain text, HTML, and a two-page PDF) and
`QUESTIONS` asks 56 questions about them, each with `evidence`: an exact quote of the passage that
answers it. Questions are phrased the way people ask, often with other words than the handbook
uses, so that dense retrieval, BM25 and hybrid differ.

`write_handbook(folder)` writes the documents into `folder/documents/` and `folder/questions.jsonl`
(the format `llmpg rag eval --questions` reads; sources are relative to the questions file).
"""
from __future__ import annotations

import json
from pathlib import Path

from llm_playground.assets.files import atomic_write_text
from llm_playground.rag.pdf import write_pdf

DOCUMENTS: dict[str, str | list[str]] = {
    "refund-policy.md": """# Refund policy

Larkspur Trail Co. wants every customer to be happy with their gear. If something is not right, you can return it.

## The refund window

You may return most items within 30 days of delivery for a full refund. Items must be unused, with their original tags and packaging. After 30 days and up to 90 days, we offer store credit instead of a refund.

## What cannot be refunded

Gift cards are not refundable. Items bought in the clearance section are final sale and cannot be returned. Personalised items, such as engraved water bottles, cannot be returned unless they arrive damaged.

## Opened electronics

Opened electronics such as headlamps, GPS units and power banks can be returned within 30 days, but a 10% restocking fee is deducted from the refund.

## How refunds are paid

Refunds go back to the original payment method. Once the warehouse has inspected the returned item, the refund is issued within 5 business days. Your bank may take a few more days to show it. Original shipping charges are refunded only when the item arrived damaged or we sent the wrong item.
""",
    "shipping.md": """# Shipping

## Delivery times and costs

Standard shipping takes 3 to 5 business days. It is free on orders over $75; below that it costs $6.95. Express shipping delivers in 1 to 2 business days for a flat fee of $15.

Orders placed before 2 pm Mountain Time on a business day leave the warehouse the same day.

## International orders

We ship to Canada, the United Kingdom and the European Union. International delivery takes 7 to 14 business days. Import duties and taxes are paid by the customer on delivery.

## Tracking

A tracking link is emailed as soon as the parcel leaves the warehouse. If a parcel has not moved for 7 days, contact customer care and we will open an investigation with the carrier.

## Addresses

We can deliver to PO boxes with standard shipping only; express parcels need a street address. An address can be changed until the order is packed, which is usually within 2 hours of ordering.
""",
    "leave-policy.md": """# Time off and leave

## Vacation

Full-time employees earn 20 days of paid vacation a year, accrued at 1.67 days per month. Up to 5 unused days can be carried over into the next calendar year; any more are lost on 31 December.

Vacation requests are made in Harbor, the HR portal, at least two weeks in advance. Your manager approves or declines within three business days.

## Sick leave

Everyone gets 10 paid sick days a year. For an absence longer than three consecutive days, a doctor's note is required. Sick days do not carry over.

## Parental leave

Parents receive 16 weeks of fully paid parental leave after the birth or adoption of a child, to be taken within the first year.

## Other leave

Bereavement leave is 5 paid days for the loss of a close family member. Employees called for jury duty keep their full pay for up to 10 days.
""",
    "expenses.html": """<!DOCTYPE html>
<html><head><title>Travel and expenses</title><style>body { font-family: sans-serif; }</style></head>
<body>
<h1>Travel and expenses</h1>
<p>Submit every expense report in Harbor within 30 days of the purchase. Reports submitted later need approval from the finance director.</p>
<h2>Receipts</h2>
<p>A receipt is required for any single expense over $25. A photo of the receipt is fine; keep the paper copy until the report is paid.</p>
<h2>Meals</h2>
<p>While travelling, meals are reimbursed up to $60 per day, tips included. Alcohol is not reimbursed.</p>
<h2>Flights and hotels</h2>
<p>Book economy class for flights. Business class is allowed only for flights longer than 6 hours. Hotels should cost no more than $200 per night in most cities and $300 in New York, London or San Francisco.</p>
<h2>Driving</h2>
<p>Using your own car for work is reimbursed at $0.67 per mile. Parking and tolls are reimbursed with a receipt.</p>
<h2>Payment</h2>
<p>Approved expenses are paid with the next payroll run. Your manager approves reports up to $1,000; larger reports also need the finance director.</p>
<script>console.log("not part of the text");</script>
</body></html>
""",
    "security.md": """# Information security

## Passwords and sign-in

Passwords must be at least 14 characters long. Use the company password manager, Vaultkeeper, to create and store them. Multi-factor authentication is required on every account, using the hardware security key you receive on your first day.

## Laptops and phones

Company laptops are encrypted and lock after 5 minutes without use. A lost or stolen laptop, phone or security key must be reported to the security team within one hour by calling +1 555 0142.

## Phishing

Forward suspicious emails to phish@larkspurtrail.example and then delete them. Never enter your password on a page you reached from an email link.

## Networks

Connect through the company VPN whenever you work on public Wi-Fi, for example in a cafe, an airport or a hotel.

## Data

Customer data stays in company systems. Do not copy it to personal devices, personal email or USB drives.
""",
    "it-support.txt": """IT SUPPORT

How to get help
The IT helpdesk answers on extension 4357 (H-E-L-P) from 8 am to 6 pm Mountain Time, Monday to Friday. Outside those hours, open a ticket in the Basecamp service portal; urgent tickets page the engineer on call.

Equipment
Every employee receives a laptop on their first day. Laptops are replaced every three years, or sooner if they fail. A second monitor, a keyboard and a mouse can be ordered from the Basecamp portal at no cost.

Software
Software from the approved catalogue can be installed from the Self Service app without asking. Anything else needs a request in Basecamp and approval from the security team, which usually takes two business days.

Printing
The printers are on the third floor next to the kitchen. Print jobs are held until you badge in at the printer.

Leaving the company
Return your laptop, security key and badge to IT on your last day.
""",
    "onboarding.md": """# Your first weeks

## Day one

On your first day, come to the reception desk on the ground floor at 9:00 am. Bring a photo ID for your badge. You will get your laptop and hardware security key from IT before lunch.

## Your buddy

Every new employee is paired with an onboarding buddy from another team for the first 90 days. Your buddy is your first stop for questions about how things work here.

## The 30-60-90 plan

In your first week you and your manager write a 30-60-90 day plan with goals for each milestone. You review it together at the end of each month.

## Pay and benefits

Salaries are paid twice a month, on the 15th and on the last business day of the month. Enrol in health insurance in Harbor within 31 days of your start date; after that you have to wait for the yearly open enrolment in November.
""",
    "remote-work.pdf": [
        """Remote work policy

Eligibility
Employees can apply to work remotely after completing 90 days at the company. Requests are approved by your manager and the head of your department.

Core hours
Remote employees are expected to be online and reachable during core hours, from 10 am to 3 pm Mountain Time. Outside core hours you can arrange your day freely.

Home office
A one-time home office stipend of $500 covers a desk, a chair or other equipment. Claim it as an expense in Harbor within your first three months of remote work.""",
        """Remote work policy, continued

Coworking spaces
If you prefer to work outside your home, the company pays for a coworking membership of up to $150 per month.

Visiting the office
Remote employees come to the Denver office once per quarter for a week of planning. Travel and hotel costs for these visits are paid by the company.

Ending remote work
When remote work ends, company equipment such as the monitor must be returned within 30 days. Furniture bought with the stipend is yours to keep.""",
    ],
    "warranty.md": """# Warranty and repairs

## The Larkspur guarantee

All Larkspur-brand gear comes with a 2-year warranty against defects in materials and workmanship. Normal wear and tear, accidents and misuse are not covered.

## Repairs

Tents, backpacks and jackets can be sent to our repair workshop in Boise. Repairs under warranty are free; other repairs are quoted before any work starts. Most repairs take 3 to 4 weeks.

## Making a claim

Start a warranty claim on the website with your order number and a photo of the defect. Customer care replies within 24 hours on business days.

## Customer care

Customer care is open from 7 am to 7 pm Mountain Time, seven days a week, by chat and by phone at 1-800-555-0199.
""",
    "code-of-conduct.md": """# Code of conduct

## Gifts

You may accept gifts from suppliers or partners only if they are worth less than $50. Decline cash or anything like cash, such as gift cards, whatever the amount.

## Conflicts of interest

Tell your manager and the legal team in writing about any outside job, investment or family relationship that could influence your decisions at work.

## Speaking up

Report suspected fraud, harassment or safety problems to your manager, to HR, or anonymously through the ethics hotline at 1-800-555-0123. Nobody who reports a concern in good faith will face retaliation.

## Social media

Only the communications team speaks for Larkspur Trail Co. in public. When you post about the outdoor industry, say that the views are your own.
""",
}

QUESTIONS: list[dict] = [
    # refund policy
    {"question": "How many days do I have to return an item for a full refund?", "source": "refund-policy.md",
     "evidence": "You may return most items within 30 days of delivery for a full refund."},
    {"question": "What happens if I want to return something after a month?", "source": "refund-policy.md",
     "evidence": "After 30 days and up to 90 days, we offer store credit instead of a refund."},
    {"question": "Can I get my money back for a gift card?", "source": "refund-policy.md",
     "evidence": "Gift cards are not refundable."},
    {"question": "Are clearance items returnable?", "source": "refund-policy.md",
     "evidence": "Items bought in the clearance section are final sale and cannot be returned."},
    {"question": "Is there a fee for returning a headlamp I have opened?", "source": "refund-policy.md",
     "evidence": "a 10% restocking fee is deducted from the refund"},
    {"question": "How long does it take to get my refund after I send the item back?", "source": "refund-policy.md",
     "evidence": "the refund is issued within 5 business days"},
    {"question": "Do you pay back the shipping cost when I return something?", "source": "refund-policy.md",
     "evidence": "Original shipping charges are refunded only when the item arrived damaged or we sent the wrong item."},
    {"question": "Can I return an engraved water bottle?", "source": "refund-policy.md",
     "evidence": "Personalised items, such as engraved water bottles, cannot be returned unless they arrive damaged."},
    # shipping
    {"question": "How long does standard delivery take?", "source": "shipping.md",
     "evidence": "Standard shipping takes 3 to 5 business days."},
    {"question": "When is shipping free?", "source": "shipping.md",
     "evidence": "It is free on orders over $75"},
    {"question": "How much does express shipping cost?", "source": "shipping.md",
     "evidence": "Express shipping delivers in 1 to 2 business days for a flat fee of $15."},
    {"question": "Which countries do you ship to outside the US?", "source": "shipping.md",
     "evidence": "We ship to Canada, the United Kingdom and the European Union."},
    {"question": "Who pays customs duties on international orders?", "source": "shipping.md",
     "evidence": "Import duties and taxes are paid by the customer on delivery."},
    {"question": "My parcel has not moved in a week, what should I do?", "source": "shipping.md",
     "evidence": "If a parcel has not moved for 7 days, contact customer care"},
    {"question": "Can you send an express order to a PO box?", "source": "shipping.md",
     "evidence": "We can deliver to PO boxes with standard shipping only; express parcels need a street address."},
    {"question": "What is the cutoff time for same-day dispatch?", "source": "shipping.md",
     "evidence": "Orders placed before 2 pm Mountain Time on a business day leave the warehouse the same day."},
    # leave
    {"question": "How much paid vacation do full-time staff get?", "source": "leave-policy.md",
     "evidence": "Full-time employees earn 20 days of paid vacation a year"},
    {"question": "Can I carry unused holiday into next year?", "source": "leave-policy.md",
     "evidence": "Up to 5 unused days can be carried over into the next calendar year"},
    {"question": "How far ahead must I ask for time off?", "source": "leave-policy.md",
     "evidence": "at least two weeks in advance"},
    {"question": "How many sick days are there per year?", "source": "leave-policy.md",
     "evidence": "Everyone gets 10 paid sick days a year."},
    {"question": "When do I need a doctor's note?", "source": "leave-policy.md",
     "evidence": "For an absence longer than three consecutive days, a doctor's note is required."},
    {"question": "How long is maternity or paternity leave?", "source": "leave-policy.md",
     "evidence": "Parents receive 16 weeks of fully paid parental leave"},
    {"question": "How many days off do I get when a family member dies?", "source": "leave-policy.md",
     "evidence": "Bereavement leave is 5 paid days for the loss of a close family member."},
    # expenses
    {"question": "What is the deadline for submitting an expense report?", "source": "expenses.html",
     "evidence": "Submit every expense report in Harbor within 30 days of the purchase."},
    {"question": "Above what amount do I need a receipt?", "source": "expenses.html",
     "evidence": "A receipt is required for any single expense over $25."},
    {"question": "What is the daily food allowance on business trips?", "source": "expenses.html",
     "evidence": "meals are reimbursed up to $60 per day, tips included"},
    {"question": "Can I fly business class?", "source": "expenses.html",
     "evidence": "Business class is allowed only for flights longer than 6 hours."},
    {"question": "What is the maximum hotel price per night in London?", "source": "expenses.html",
     "evidence": "$300 in New York, London or San Francisco"},
    {"question": "What is the mileage rate for driving my own car?", "source": "expenses.html",
     "evidence": "Using your own car for work is reimbursed at $0.67 per mile."},
    {"question": "When will I be reimbursed for approved expenses?", "source": "expenses.html",
     "evidence": "Approved expenses are paid with the next payroll run."},
    {"question": "Will the company pay for wine with dinner?", "source": "expenses.html",
     "evidence": "Alcohol is not reimbursed."},
    # security
    {"question": "How long must a password be?", "source": "security.md",
     "evidence": "Passwords must be at least 14 characters long."},
    {"question": "Which tool should I use to store my passwords?", "source": "security.md",
     "evidence": "Use the company password manager, Vaultkeeper, to create and store them."},
    {"question": "What do I do if my laptop gets stolen?", "source": "security.md",
     "evidence": "must be reported to the security team within one hour by calling +1 555 0142"},
    {"question": "Where do I send a suspicious email?", "source": "security.md",
     "evidence": "Forward suspicious emails to phish@larkspurtrail.example and then delete them."},
    {"question": "Do I need the VPN when working from a coffee shop?", "source": "security.md",
     "evidence": "Connect through the company VPN whenever you work on public Wi-Fi"},
    {"question": "Can I put customer data on a USB stick?", "source": "security.md",
     "evidence": "Do not copy it to personal devices, personal email or USB drives."},
    # IT support
    {"question": "What number do I call for IT help?", "source": "it-support.txt",
     "evidence": "The IT helpdesk answers on extension 4357"},
    {"question": "How often do laptops get replaced?", "source": "it-support.txt",
     "evidence": "Laptops are replaced every three years, or sooner if they fail."},
    {"question": "How do I get a second monitor?", "source": "it-support.txt",
     "evidence": "A second monitor, a keyboard and a mouse can be ordered from the Basecamp portal at no cost."},
    {"question": "How do I install software that is not in the catalogue?", "source": "it-support.txt",
     "evidence": "Anything else needs a request in Basecamp and approval from the security team"},
    {"question": "Where are the printers?", "source": "it-support.txt",
     "evidence": "The printers are on the third floor next to the kitchen."},
    {"question": "What do I hand back to IT when I leave the company?", "source": "it-support.txt",
     "evidence": "Return your laptop, security key and badge to IT on your last day."},
    # onboarding
    {"question": "Where and when should I show up on my first day?", "source": "onboarding.md",
     "evidence": "come to the reception desk on the ground floor at 9:00 am"},
    {"question": "Who helps new hires settle in?", "source": "onboarding.md",
     "evidence": "Every new employee is paired with an onboarding buddy from another team for the first 90 days."},
    {"question": "When is payday?", "source": "onboarding.md",
     "evidence": "Salaries are paid twice a month, on the 15th and on the last business day of the month."},
    {"question": "How long do I have to sign up for health insurance?", "source": "onboarding.md",
     "evidence": "Enrol in health insurance in Harbor within 31 days of your start date"},
    {"question": "What goal plan do new employees write with their manager?", "source": "onboarding.md",
     "evidence": "you and your manager write a 30-60-90 day plan with goals for each milestone"},
    # remote work (a two-page PDF: the page matters)
    {"question": "When can a new employee start working from home?", "source": "remote-work.pdf", "page": 1,
     "evidence": "Employees can apply to work remotely after completing 90 days at the company."},
    {"question": "What are the core hours for remote staff?", "source": "remote-work.pdf", "page": 1,
     "evidence": "from 10 am to 3 pm Mountain Time"},
    {"question": "How much money do I get to set up a home office?", "source": "remote-work.pdf", "page": 1,
     "evidence": "A one-time home office stipend of $500 covers a desk, a chair or other equipment."},
    {"question": "Does the company pay for a coworking space?", "source": "remote-work.pdf", "page": 2,
     "evidence": "the company pays for a coworking membership of up to $150 per month"},
    {"question": "How often do remote employees visit the Denver office?", "source": "remote-work.pdf", "page": 2,
     "evidence": "Remote employees come to the Denver office once per quarter for a week of planning."},
    {"question": "Do I have to give back the desk I bought with the stipend?", "source": "remote-work.pdf", "page": 2,
     "evidence": "Furniture bought with the stipend is yours to keep."},
    # warranty
    {"question": "How long is the warranty on Larkspur gear?", "source": "warranty.md",
     "evidence": "All Larkspur-brand gear comes with a 2-year warranty against defects in materials and workmanship."},
    {"question": "How long does it take to repair a torn tent?", "source": "warranty.md",
     "evidence": "Most repairs take 3 to 4 weeks."},
    {"question": "What are customer care's opening hours?", "source": "warranty.md",
     "evidence": "Customer care is open from 7 am to 7 pm Mountain Time, seven days a week"},
    # code of conduct
    {"question": "Can I accept a present from a supplier?", "source": "code-of-conduct.md",
     "evidence": "You may accept gifts from suppliers or partners only if they are worth less than $50."},
    {"question": "How can I report fraud anonymously?", "source": "code-of-conduct.md",
     "evidence": "anonymously through the ethics hotline at 1-800-555-0123"},
    {"question": "Who is allowed to speak for the company in public?", "source": "code-of-conduct.md",
     "evidence": "Only the communications team speaks for Larkspur Trail Co. in public."},
]

QUESTIONS_FILE = "questions.jsonl"
DOCUMENTS_FOLDER = "documents"


def write_handbook(folder: str | Path) -> Path:
    """Write the documents into `folder/documents/` and the questions into `folder/questions.jsonl`
    (sources relative to it); returns the questions file."""
    folder = Path(folder)
    documents = folder / DOCUMENTS_FOLDER
    documents.mkdir(parents=True, exist_ok=True)
    for name, content in DOCUMENTS.items():
        if isinstance(content, list):
            write_pdf(documents / name, content)
        else:
            atomic_write_text(documents / name, content)
    lines = [json.dumps(dict(question, source=f"{DOCUMENTS_FOLDER}/{question['source']}"), ensure_ascii=False)
             for question in QUESTIONS]
    return atomic_write_text(folder / QUESTIONS_FILE, "\n".join(lines) + "\n")
